// The isolate runtime, driven through the in-process gateway (no socket).
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { tempStack, type TempStack } from "../../test/helpers/stack.ts";

let upstream: Server;
let upstreamPort = 0;
before(async () => {
  upstream = createServer((req, res) => res.end(`upstream saw ${req.method} ${req.url}`));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamPort = (upstream.address() as AddressInfo).port;
});
after(() => new Promise<void>((r) => upstream.close(() => r())));

const WEB_APIS = `
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    const out = {};
    out.url = url.pathname + "?" + url.searchParams.get("q");
    out.params = ctx.params;
    out.header = request.headers.get("X-Custom");
    out.body = request.method === "POST" ? await request.json() : null;
    out.text = new TextDecoder().decode(new TextEncoder().encode("héllo"));
    out.b64 = btoa("hello") + " " + atob("aGVsbG8=");
    out.uuid = /^[0-9a-f-]{36}$/.test(crypto.randomUUID());
    out.random = crypto.getRandomValues(new Uint8Array(8)).length;
    out.sha = [...new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("abc")))].slice(0, 4);
    out.clone = structuredClone({ a: [1, { b: 2 }], d: new Date(0) }).a[1].b;
    out.timer = await new Promise((r) => setTimeout(() => r("fired"), 5));
    const h = new Headers({ a: "1" }); h.append("a", "2"); h.append("set-cookie", "x=1"); h.append("set-cookie", "y=2");
    out.headers = [h.get("a"), h.getSetCookie().length];
    const ts = new TransformStream();
    const w = ts.writable.getWriter(); w.write(new TextEncoder().encode("streamed")); w.close();
    out.stream = await new Response(ts.readable).text();
    out.hasNode = typeof globalThis.process + typeof globalThis.require + typeof globalThis.Buffer + typeof globalThis.setImmediate;
    out.cloned = await new Request("http://x/", { method: "POST", body: "abc" }).clone().text();
    const ac = new AbortController(); let aborted = 0; ac.signal.addEventListener("abort", () => aborted++); ac.abort();
    const et = new EventTarget(); let fired = ""; et.addEventListener("ping", (e) => (fired = e.type)); et.dispatchEvent(new Event("ping"));
    out.events = [ac.signal.aborted, aborted, fired];
    return Response.json(out, { headers: { "x-served-by": "isolate" } });
  },
};`;

function files(port: number): Record<string, string> {
  return {
    "stratus.yaml": `name: t
services:
  web:
    entry: web.js
    routes: ["ANY /web/:thing"]
  limits:
    entry: limits.js
    routes: ["GET /limits/*"]
    limits: { cpu: 100ms, memory: 16, timeout: 500ms }
  tiny:
    entry: tiny.js
    routes: ["GET /tiny"]
    scale: { max: 1, concurrency: 1, queue: 1 }
  shared:
    entry: shared.js
    routes: ["GET /shared"]
    scale: { max: 1, concurrency: 4, queue: 1000 }
    limits: { cpu: 50ms }
  memory:
    entry: limits.js
    routes: ["GET /memory/*"]
    limits: { cpu: 5s, memory: 16 }
  calls:
    entry: calls.js
    routes: ["GET /calls/*"]
    bindings:
      OTHER: { service: web }
      KV: { kv: {} }
      DB: { sql: {} }
      API: { egress: ["127.0.0.1:${port}"] }
    vars: { GREETING: hi }
`,
    "web.js": WEB_APIS,
    "shared.js":
      "export default { async fetch(req) { if (req.url.endsWith('hold')) { await new Promise((r) => setTimeout(r, 400)); return new Response('held'); } const end = Date.now() + 4; while (Date.now() < end) {} await null; return new Response('ok'); } };",
    "tiny.js": "export default { async fetch() { await new Promise((r) => setTimeout(r, 150)); return new Response('done'); } };",
    "limits.js": `
export default {
  async fetch(request, env, ctx) {
    const p = new URL(request.url).pathname;
    if (p === "/limits/loop") { for (;;) {} }
    if (p === "/limits/loop-after-await") { await null; for (;;) {} }
    if (p === "/memory/oom") { const a = []; for (;;) a.push(new Array(1e6).fill(p)); }
    if (p === "/limits/hang") return new Promise(() => {});
    if (p === "/limits/throw") throw new TypeError("kaput");
    if (p === "/limits/string") return "not a response";
    if (p === "/limits/log") { console.log("hello", { a: 1 }); console.error("bad thing"); return new Response("logged"); }
    if (p === "/limits/wait") { ctx.waitUntil(new Promise((r) => setTimeout(r, 20)).then(() => console.log("after response"))); return new Response("early"); }
    if (p === "/limits/stream") {
      let i = 0;
      return new Response(new ReadableStream({ pull(c) { if (i < 3) c.enqueue(new TextEncoder().encode("chunk" + i++)); else c.close(); } }), { headers: { "content-type": "text/plain" } });
    }
    return new Response("ok");
  },
};`,
    "calls.js": `
export default {
  async fetch(request, env) {
    const p = new URL(request.url).pathname;
    if (p === "/calls/service") return env.OTHER.fetch("http://web/web/from-calls?q=1", { headers: { "x-custom": "via binding" } });
    if (p === "/calls/egress-ok") return new Response(await (await fetch("http://127.0.0.1:${port}/hi")).text());
    if (p === "/calls/egress-binding") return new Response(await (await env.API.fetch("http://127.0.0.1:${port}/b")).text());
    if (p === "/calls/egress-denied") return fetch("http://example.com/");
    if (p === "/calls/undeclared-service") return fetch("http://limits/limits/x");
    if (p === "/calls/kv-limit") { try { await env.KV.put("k".repeat(600), "v"); } catch (e) { return Response.json({ code: e.code, message: e.message }); } }
    if (p === "/calls/kv-type") { try { await env.KV.put("k", { an: "object" }); } catch (e) { return Response.json({ code: e.code }); } }
    if (p === "/calls/sql-error") { try { await env.DB.prepare("SELEC nothing").all(); } catch (e) { return Response.json({ code: e.code, message: e.message }); } }
    if (p === "/calls/sql") {
      await env.DB.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
      const [a, b] = await env.DB.batch([env.DB.prepare("INSERT INTO t (v) VALUES (?)").bind("x"), env.DB.prepare("SELECT count(*) AS n FROM t")]);
      let rolledBack = false;
      try { await env.DB.batch([env.DB.prepare("INSERT INTO t (v) VALUES (?)").bind("y"), env.DB.prepare("INSERT INTO t (v) VALUES (?)").bind(null)]); } catch (e) { rolledBack = e.code === "STRATUS_E_SQL"; }
      const n = await env.DB.prepare("SELECT count(*) AS n FROM t").first("n");
      return Response.json({ inserted: a.meta.changes, countInBatch: b.results[0].n, rolledBack, n });
    }
    if (p === "/calls/env") return Response.json({ keys: Object.keys(env).sort(), greeting: env.GREETING });
    return new Response("?");
  },
};`,
  };
}

type ErrorBody = { error: { code: string; message: string } };

describe("runtime", () => {
  let s: TempStack;
  before(async () => {
    s = await tempStack(files(upstreamPort));
  });
  after(() => s.close());

  test("Web APIs inside the isolate, and nothing of Node", async () => {
    const res = await s.fetch("/web/widget?q=search", {
      method: "POST",
      headers: { "x-custom": "yes", "content-type": "application/json" },
      body: JSON.stringify({ n: 1 }),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-served-by"), "isolate");
    assert.match(res.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    assert.deepEqual(await res.json(), {
      url: "/web/widget?search",
      params: { thing: "widget" },
      header: "yes",
      body: { n: 1 },
      text: "héllo",
      b64: "aGVsbG8= hello",
      uuid: true,
      random: 8,
      sha: [186, 120, 22, 191],
      clone: 2,
      timer: "fired",
      headers: ["1, 2", 2],
      stream: "streamed",
      hasNode: "undefinedundefinedundefinedundefined",
      cloned: "abc",
      events: [true, 1, "ping"],
    });
  });

  test("env holds exactly the granted bindings and vars", async () => {
    const res = await s.fetch("/calls/env");
    assert.deepEqual(await res.json(), { keys: ["API", "DB", "GREETING", "KV", "OTHER"], greeting: "hi" });
  });

  test("a function that loops forever is cut off at limits.cpu; the service and its neighbours keep answering", async () => {
    const [looped, neighbour] = await Promise.all([s.fetch("/limits/loop"), s.fetch("/web/x?q=1")]);
    assert.equal(looped.status, 503);
    assert.equal(((await looped.json()) as ErrorBody).error.code, "STRATUS_E_CPU_LIMIT");
    assert.equal(neighbour.status, 200);
    const after2 = await s.fetch("/limits/after");
    assert.equal(await after2.text(), "ok");
    const late = await s.fetch("/limits/loop-after-await");
    assert.equal(((await late.json()) as ErrorBody).error.code, "STRATUS_E_CPU_LIMIT");
  });

  test("a function that allocates without bound hits limits.memory and is replaced", async () => {
    const res = await s.fetch("/memory/oom");
    assert.equal(res.status, 503);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, "STRATUS_E_MEMORY_LIMIT");
    assert.match(body.error.message, /limits\.memory: 16 MB/);
    assert.equal(await (await s.fetch("/memory/fine")).text(), "ok");
  });

  test("a handler that never resolves gets 504 at limits.timeout", async () => {
    const res = await s.fetch("/limits/hang");
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as ErrorBody).error.code, "STRATUS_E_TIMEOUT");
    assert.equal(await (await s.fetch("/limits/fine")).text(), "ok");
  });

  test("a thrown error is a 500 with the message, not the stack; a non-Response is a 500 that says what to return", async () => {
    const thrown = await s.fetch("/limits/throw");
    assert.equal(thrown.status, 500);
    const t = (await thrown.json()) as ErrorBody;
    assert.equal(t.error.code, "STRATUS_E_HANDLER_THREW");
    assert.match(t.error.message, /service "limits" threw: TypeError: kaput/);
    assert.doesNotMatch(t.error.message, /\n/);
    const str = (await (await s.fetch("/limits/string")).json()) as ErrorBody;
    assert.equal(str.error.code, "STRATUS_E_BAD_RESPONSE");
    assert.match(str.error.message, /returned a string; return a Response/);
  });

  test("streamed response bodies arrive whole", async () => {
    const res = await s.fetch("/limits/stream");
    assert.equal(await res.text(), "chunk0chunk1chunk2");
  });

  test("ctx.waitUntil work runs after the response", async () => {
    const res = await s.fetch("/limits/wait");
    assert.equal(await res.text(), "early");
  });

  test("service bindings call another service in-process", async () => {
    const res = await s.fetch("/calls/service");
    const body = (await res.json()) as { url: string; header: string; params: Record<string, string> };
    assert.equal(body.url, "/web/from-calls?1");
    assert.equal(body.header, "via binding");
  });

  test("fetch reaches granted hosts only, with a message that says how to grant", async () => {
    assert.equal(await (await s.fetch("/calls/egress-ok")).text(), "upstream saw GET /hi");
    assert.equal(await (await s.fetch("/calls/egress-binding")).text(), "upstream saw GET /b");
    const denied = (await (await s.fetch("/calls/egress-denied")).json()) as ErrorBody;
    assert.equal(denied.error.code, "STRATUS_E_EGRESS_DENIED");
    assert.match(denied.error.message, /service "calls" may not reach host "example\.com"; grant it with a binding/);
    const svc = (await (await s.fetch("/calls/undeclared-service")).json()) as ErrorBody;
    assert.equal(svc.error.code, "STRATUS_E_EGRESS_DENIED");
    assert.match(svc.error.message, /to call service "limits", grant a service binding/);
  });

  test("binding errors cross the boundary with their code", async () => {
    const limit = (await (await s.fetch("/calls/kv-limit")).json()) as { code: string; message: string };
    assert.equal(limit.code, "STRATUS_E_KV_LIMIT");
    assert.match(limit.message, /600 bytes; the limit is 512/);
    assert.deepEqual(await (await s.fetch("/calls/kv-type")).json(), { code: "STRATUS_E_KV_ARGUMENT" });
  });

  test("SQL from a function: batches are transactions, errors keep their code", async () => {
    assert.deepEqual(await (await s.fetch("/calls/sql")).json(), { inserted: 1, countInBatch: 1, rolledBack: true, n: 1 });
    const e = (await (await s.fetch("/calls/sql-error")).json()) as { code: string; message: string };
    assert.equal(e.code, "STRATUS_E_SQL");
    assert.match(e.message, /SELEC nothing/);
  });

  test("limits.cpu counts CPU spent without finishing a request, so a busy shared instance is not cut off", async () => {
    // One slow request keeps the instance (concurrency 4) busy throughout, while 60 requests of
    // ~4 ms CPU each add up to ~240 ms, far over the 50 ms limit; yet each request is short and
    // none may fail.
    const held = s.fetch("/shared?hold");
    const replies = await Promise.all(Array.from({ length: 60 }, () => s.fetch("/shared")));
    assert.deepEqual([...new Set(replies.map((r) => r.status))], [200]);
    assert.equal(await (await held).text(), "held");
  });

  test("past scale.max instances and scale.queue waiting requests, the service answers 429 with Retry-After", async () => {
    const replies = await Promise.all([s.fetch("/tiny"), s.fetch("/tiny"), s.fetch("/tiny")]);
    const statuses = replies.map((r) => r.status).sort();
    assert.deepEqual(statuses, [200, 200, 429]);
    const rejected = replies.find((r) => r.status === 429)!;
    assert.equal(rejected.headers.get("retry-after"), "1");
    assert.equal(((await rejected.json()) as ErrorBody).error.code, "STRATUS_E_OVERLOADED");
    assert.equal(await (await s.fetch("/tiny")).text(), "done");
  });

  test("metrics count invocations, errors by code, cold starts, 429s and limit breaches per service", async () => {
    const metrics = new Map<string, number>();
    for (const m of await s.host.metrics.registry.getMetricsAsJSON()) {
      for (const v of (m as { values: { value: number; labels: Record<string, string> }[] }).values) {
        metrics.set(
          `${m.name}{${Object.entries(v.labels)
            .map(([k, x]) => `${k}=${x}`)
            .join(",")}}`,
          v.value,
        );
      }
    }
    assert.ok((metrics.get("stratus_invocations_total{service=limits}") ?? 0) >= 8);
    assert.equal(metrics.get("stratus_errors_total{service=limits,code=STRATUS_E_CPU_LIMIT}"), 2);
    assert.equal(metrics.get("stratus_errors_total{service=limits,code=STRATUS_E_HANDLER_THREW}"), 1);
    assert.equal(metrics.get("stratus_limit_breaches_total{service=limits,limit=cpu}"), 2);
    assert.equal(metrics.get("stratus_limit_breaches_total{service=memory,limit=memory}"), 1);
    assert.equal(metrics.get("stratus_limit_breaches_total{service=limits,limit=timeout}"), 1);
    assert.equal(metrics.get("stratus_rejections_total{service=tiny}"), 1);
    assert.ok((metrics.get("stratus_cold_starts_total{service=limits}") ?? 0) >= 1);
    // The autoscaler may keep a second instance of web warm after its concurrent requests.
    assert.ok((metrics.get("stratus_instances{service=web}") ?? 0) >= 1);
  });

  test("status counts invocations and cold starts per service", () => {
    const st = s.host.runtime.status();
    const limits = st.find((x) => x.service === "limits");
    // At least the first request was a cold start; the autoscaler may have started replacements ahead of the later ones.
    assert.ok(limits && limits.invocations > 5 && limits.coldStarts >= 1, JSON.stringify(limits));
  });
});

describe("modules that cannot serve", () => {
  for (const [name, code, expected] of [
    ["no default export", "export const x = 1;", /has no default export/],
    ["no handler", "export default { hello() {} };", /has no handler; add `async fetch/],
    ["top level throws", "throw new Error('at load');", /failed while loading: at load/],
  ] as const) {
    test(name, async () => {
      await assert.rejects(tempStack({ "stratus.yaml": "name: t\nservices:\n  a:\n    entry: a.js\n", "a.js": code }), expected);
    });
  }
});
