// Attacks on the runtime through real HTTP against `stratus dev` with one worker (offender and
// neighbour share the process): service-call depth and deadlines, hostile thrown values, timer
// delays, made-up error codes, huge SQL results. Each offender gets a clear error, and the
// neighbour keeps answering.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let dev: DevServer;
let base = "";
let control = "";

/** GET through the gateway, with a generous hang guard (not a timing assertion). */
const get = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${path}`, { signal: AbortSignal.timeout(60_000), ...init });

/** The neighbour answers, and with its own body. */
async function neighbourAnswers(): Promise<void> {
  const r = await get("/neighbour");
  assert.equal(r.status, 200);
  assert.equal(await r.text(), "neighbour ok");
}

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: attacks
topics:
  card: {}
services:
  neighbour:
    entry: neighbour.ts
    routes: ["GET /neighbour"]
  agg:
    entry: agg.ts
    routes: ["GET /agg"]
    bindings: { MID: { service: mid } }
  mid:
    entry: mid.ts
    scale: { concurrency: 40, max: 1 }
  chain:
    entry: chain.ts
    routes: ["GET /chain"]
    scale: { concurrency: 40, max: 1 }
    bindings: { SELF: { service: chain } }
  storm:
    entry: storm.ts
    routes: ["GET /storm/*"]
    scale: { concurrency: 50, max: 1 }
    limits: { timeout: 1s }
    bindings: { SELF: { service: storm }, SLEEP: { service: sleeper } }
  fan:
    entry: fan.ts
    routes: ["GET /fan/*"]
    scale: { concurrency: 50, max: 1 }
    limits: { timeout: 2s }
    bindings: { SELF: { service: fan } }
  sleeper:
    entry: sleeper.ts
    scale: { concurrency: 50, max: 1 }
  weird:
    entry: weird.ts
    routes: ["GET /weird/:w"]
    limits: { timeout: 30s }
  tmr:
    entry: tmr.ts
    routes: ["GET /tmr/:w"]
  good:
    entry: good.ts
    routes: ["ANY /good/*"]
  card:
    entry: card.ts
    routes: ["POST /card"]
    bindings: { EV: { publish: [card] } }
    subscribe:
      card: { maxAttempts: 1, deadLetter: false }
  big:
    entry: big.ts
    routes: ["GET /big/:what"]
    bindings: { DB: { sql: {} } }
    # Generous, so a loaded machine reaches the result cap rather than the deadline.
    limits: { timeout: 60s }
`,
    "neighbour.ts": `export default { async fetch() { return new Response("neighbour ok"); } };`,
    "agg.ts": `
type Env = { MID: { fetch(u: string): Promise<Response> } };
export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const n = Number(new URL(req.url).searchParams.get("n"));
    const rs = await Promise.allSettled(Array.from({ length: n }, (_, i) => env.MID.fetch("http://mid/m/" + i)));
    return Response.json(rs.map((r) => (r.status === "fulfilled" ? r.value.status : String(r.reason))));
  },
};`,
    "mid.ts": `export default { async fetch() { await new Promise((r) => setTimeout(r, 50)); return new Response("ok"); } };`,
    "chain.ts": `
type Env = { SELF: { fetch(u: string): Promise<Response> } };
export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const d = Number(new URL(req.url).searchParams.get("d") ?? 0);
    try {
      const r = await env.SELF.fetch("http://chain/chain?d=" + (d + 1));
      return new Response(await r.text(), { status: r.status });
    } catch (e) {
      return Response.json({ depth: d, code: (e as { code?: string }).code, message: (e as Error).message });
    }
  },
};`,
    // The finding's storm: each hop answers, then (5 ms later, in ctx.waitUntil) calls itself twice.
    "fan.ts": `
type Env = { SELF: { fetch(u: string): Promise<Response> } };
let deepest = 0;
let hops = 0;
const refused: Record<string, number> = {};
export default {
  async fetch(req: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
    const u = new URL(req.url);
    if (u.pathname === "/fan/status") return Response.json({ deepest, hops, refused });
    const d = Number(u.searchParams.get("d") ?? 0);
    hops++;
    deepest = Math.max(deepest, d);
    ctx.waitUntil((async () => {
      await new Promise((r) => setTimeout(r, 5));
      await Promise.all([1, 2].map(() => env.SELF.fetch("http://fan/fan/hop?d=" + (d + 1)).then((r) => r.text()).catch((e: { code?: string }) => {
        refused[String(e.code)] = (refused[String(e.code)] ?? 0) + 1;
      })));
    })());
    return new Response("spawned");
  },
};`,
    "sleeper.ts": `export default { async fetch(req: Request) { await new Promise((r) => setTimeout(r, Number(new URL(req.url).searchParams.get("ms")))); return new Response("slept"); } };`,
    // A call chain started in ctx.waitUntil: each hop answers at once and calls the next one later
    // (after waiting on another service, so the wait is I/O the host sees, not a timer).
    "storm.ts": `
type Env = { SELF: { fetch(u: string): Promise<Response> }; SLEEP: { fetch(u: string): Promise<Response> } };
const runs = new Map<string, { depth: number; end: { code?: string; message: string } | null }>();
export default {
  async fetch(req: Request, env: Env, ctx: { waitUntil(p: Promise<unknown>): void }): Promise<Response> {
    const u = new URL(req.url);
    const run = u.searchParams.get("run") ?? "";
    if (u.pathname === "/storm/status") return Response.json(runs.get(run) ?? null);
    const d = Number(u.searchParams.get("d") ?? 0);
    const wait = Number(u.searchParams.get("wait") ?? 5);
    const state = runs.get(run) ?? { depth: 0, end: null };
    runs.set(run, state);
    state.depth = Math.max(state.depth, d);
    ctx.waitUntil((async () => {
      try {
        await (await env.SLEEP.fetch("http://sleeper/?ms=" + wait)).text();
        await (await env.SELF.fetch("http://storm/storm/hop?run=" + run + "&wait=" + wait + "&d=" + (d + 1))).text();
      } catch (e) {
        state.end ??= { code: (e as { code?: string }).code, message: (e as Error).message };
      }
    })());
    return new Response("spawned");
  },
};`,
    "weird.ts": `
export default {
  async fetch(req: Request): Promise<Response> {
    const w = new URL(req.url).pathname.split("/")[2];
    if (w === "getter") throw { get stack() { throw 1; }, get message() { throw 2; } };
    if (w === "proxy") throw new Proxy({}, { get() { throw 3; }, has() { throw 4; }, getPrototypeOf() { throw 7; } });
    if (w === "tostring") throw { toString() { throw 5; }, [Symbol.toPrimitive]() { throw 6; } };
    if (w === "prim") throw Object.create(null, { [Symbol.toPrimitive]: { value() { throw 8; } } });
    return new Response("ok");
  },
};`,
    "tmr.ts": `
export default {
  async fetch(req: Request): Promise<Response> {
    const w = new URL(req.url).pathname.split("/")[2];
    if (w === "delays") {
      // Delays HTML turns into 0 (WebIDL long: wrapped to 32 bits, NaN and Infinity to 0, negative to 0),
      // raced against a 300 ms timer; 2**31-1 is the largest delay and must not fire before it.
      const fired: string[] = [];
      const cases: [string, unknown][] = [["2**31", 2 ** 31], ["3e9", 3e9], ["Infinity", Infinity], ["NaN", NaN], ["-1", -1], ["2**32+1", 2 ** 32 + 1], ["max", 2 ** 31 - 1]];
      for (const [name, ms] of cases) setTimeout(() => fired.push(name), ms as number);
      await new Promise((r) => setTimeout(r, 300));
      return Response.json(fired.sort());
    }
    // An interval whose delay wraps to 0: past its fifth run it waits at least 4 ms (HTML's clamp).
    const at: number[] = [];
    await new Promise<void>((resolve) => {
      const id = setInterval(() => {
        at.push(Date.now());
        if (at.length === 12) { clearInterval(id); resolve(); }
      }, 2 ** 31);
    });
    return Response.json(at);
  },
};`,
    "good.ts": `
export default {
  async fetch(req: Request): Promise<Response> {
    const c = new URL(req.url).searchParams.get("code");
    if (c) throw Object.assign(new Error("boom"), { code: c });
    return new Response("ok");
  },
};`,
    "card.ts": `
type Env = { EV: { publish(t: string, d: unknown): Promise<unknown> } };
export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    const n = Number(new URL(req.url).searchParams.get("n"));
    await Promise.all(Array.from({ length: n }, (_, i) => env.EV.publish("card", { i })));
    return new Response("published " + n);
  },
  async event(): Promise<void> {
    throw Object.assign(new Error("x"), { code: "STRATUS_E_MADEUP" + Math.random().toString(36).slice(2).toUpperCase().replace(/[^A-Z0-9]/g, ""), permanent: true });
  },
};`,
    "big.ts": `
type Env = { DB: { prepare(s: string): { first(): Promise<Record<string, unknown> | null>; all(): Promise<{ results: unknown[] }> } } };
export default {
  async fetch(req: Request, env: Env, ctx: { params: Record<string, string> }): Promise<Response> {
    try {
      if (ctx.params.what === "zeroblob") {
        const r = await env.DB.prepare("SELECT zeroblob(400000000) AS z").first();
        return new Response(String((r!.z as Uint8Array).byteLength));
      }
      const r = await env.DB.prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c LIMIT 3000000) SELECT x, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' AS pad FROM c").all();
      return new Response(String(r.results.length));
    } catch (e) {
      return Response.json({ code: (e as { code?: string }).code, message: (e as Error).message }, { status: 500 });
    }
  },
};`,
  });
  dev = testDevServer(project.dir, { workers: 1, controlPort: 0 });
  base = `http://127.0.0.1:${await dev.start()}`;
  control = `http://127.0.0.1:${dev.controlPort}`;
});

after(async () => {
  await dev?.stop();
  project?.remove();
});

test("17 parallel service calls from one request are each one call deep (the hop limit used to count siblings)", async () => {
  const r = await get("/agg?n=17");
  assert.equal(r.status, 200);
  assert.deepEqual(await r.json(), new Array(17).fill(200));
  await neighbourAnswers();
});

test("clients sharing an x-request-id do not share a call-depth budget", async () => {
  const headers = { "x-request-id": "victim-1" };
  const [a, b] = await Promise.all([get("/agg?n=10", { headers }), get("/agg?n=10", { headers })]);
  assert.deepEqual(await a.json(), new Array(10).fill(200));
  assert.deepEqual(await b.json(), new Array(10).fill(200));
});

test("a chain of service calls still ends at 16 calls deep with STRATUS_E_BINDING_DENIED", async () => {
  const r = await get("/chain");
  const body = (await r.json()) as { depth: number; code: string; message: string };
  assert.equal(body.code, "STRATUS_E_BINDING_DENIED");
  assert.equal(body.depth, 16);
  assert.match(body.message, /16 calls deep \(limit 16\)/);
  await neighbourAnswers();
});

test("a service-call loop started in ctx.waitUntil ends: calls carry their depth (it used to run forever)", async () => {
  assert.equal((await get("/storm/start?run=fast&wait=5")).status, 200);
  let status: { depth: number; end: { code: string; message: string } | null } | null = null;
  await waitFor(
    async () => {
      status = (await (await get("/storm/status?run=fast")).json()) as typeof status;
      return status?.end != null;
    },
    30_000,
    "the waitUntil call chain to be refused",
  );
  const s = status!;
  assert.ok(s.depth <= 16, `depth ${s.depth}`);
  // Either limit may stop it first on a loaded machine: 16 calls deep, or the root request's deadline.
  assert.ok(["STRATUS_E_BINDING_DENIED", "STRATUS_E_TIMEOUT"].includes(s.end!.code), s.end!.message);
  await neighbourAnswers();
});

test("a fan-out call storm started in ctx.waitUntil never goes past 16 generations (it used to run forever)", async () => {
  assert.equal((await get("/fan/start")).status, 200);
  let status = { deepest: 0, hops: 0, refused: {} as Record<string, number> };
  // The storm ends either with refused calls, or silently when the root request's deadline (2 s)
  // cuts the instance's waitUntil work: then the hop count stops moving.
  let last = -1;
  await waitFor(
    async () => {
      status = (await (await get("/fan/status")).json()) as typeof status;
      const still = status.hops === last;
      last = status.hops;
      if (status.deepest > 16 || Object.keys(status.refused).length > 0) return true;
      if (!still) await new Promise((r) => setTimeout(r, 1000));
      return still;
    },
    30_000,
    "the storm to end",
  );
  // Depth travels with each call: no hop of the 17th generation can run, whatever the timing.
  assert.ok(status.deepest <= 16, `a hop ran ${status.deepest} calls deep`);
  for (const code of Object.keys(status.refused)) assert.ok(["STRATUS_E_BINDING_DENIED", "STRATUS_E_TIMEOUT"].includes(code), code);
  await neighbourAnswers();
});

test("a service-call loop is bounded by its root request's deadline (limits.timeout 1s), not by each hop's own", async () => {
  // Hop k calls the next no earlier than k * 400 ms after the root request arrived: past 1 s
  // every call is refused, so no hop deeper than 2 can ever run.
  assert.equal((await get("/storm/start?run=slow&wait=400")).status, 200);
  let status: { depth: number; end: { code: string; message: string } | null } | null = null;
  await waitFor(
    async () => {
      status = (await (await get("/storm/status?run=slow")).json()) as typeof status;
      return status?.end != null;
    },
    30_000,
    "the slow call chain to be refused",
  );
  const s = status!;
  assert.ok(s.depth <= 2, `a hop ran at depth ${s.depth}, past the root's deadline`);
  assert.ok(
    (s.end!.code === "STRATUS_E_TIMEOUT" && /after the deadline of the request it serves/.test(s.end!.message)) ||
      (s.end!.code === "STRATUS_E_BINDING_DENIED" && /on behalf of no live request/.test(s.end!.message)),
    `${s.end!.code}: ${s.end!.message}`,
  );
  await neighbourAnswers();
});

for (const w of ["getter", "proxy", "tostring", "prim"]) {
  test(`throwing a value whose every read throws (${w}) answers at once with STRATUS_E_HANDLER_THREW, not a timeout`, async () => {
    const r = await get(`/weird/${w}`);
    assert.equal(r.status, 500);
    const body = (await r.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "STRATUS_E_HANDLER_THREW");
    assert.equal((await get("/weird/ok")).status, 200);
    await neighbourAnswers();
  });
}

test("timer delays follow HTML: over 2^31-1, NaN, Infinity and negative delays are 0; 2^31-1 is not", async () => {
  const fired = (await (await get("/tmr/delays")).json()) as string[];
  assert.deepEqual(fired, ["-1", "2**31", "2**32+1", "3e9", "Infinity", "NaN"]);
});

test("an interval whose delay wraps to 0 waits at least 4 ms per run after its fifth (it used to spin the host every ms)", async () => {
  const at = (await (await get("/tmr/interval")).json()) as number[];
  assert.equal(at.length, 12);
  // Runs 6..12 are each due 4 ms after the previous one ran (timers never fire early); the fifth
  // may itself have run up to a few ms after its due time, hence one 4 ms step of slack.
  assert.ok(at[11]! - at[4]! >= 6 * 4, `runs 5..12 took ${at[11]! - at[4]!} ms`);
  await neighbourAnswers();
});

test("a function throwing a made-up STRATUS_E_ code gets STRATUS_E_HANDLER_THREW, and the worker keeps serving (it used to die)", async () => {
  const r = await get("/good/x?code=STRATUS_E_NOPE");
  assert.equal(r.status, 500);
  const body = (await r.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "STRATUS_E_HANDLER_THREW");
  assert.match(body.error.message, /STRATUS_E_NOPE/);
  for (const code of ["constructor", "__proto__", "STRATUS_E_", "toString"]) {
    const x = await get(`/good/x?code=${code}`);
    assert.equal(((await x.json()) as { error: { code: string } }).error.code, "STRATUS_E_HANDLER_THREW");
  }
  assert.equal(await (await get("/good/x")).text(), "ok");
  await neighbourAnswers();
});

test("made-up error codes from event handlers never become /metrics labels", async () => {
  assert.equal(await (await get("/card?n=20", { method: "POST" })).text(), "published 20");
  const failures = (text: string): number => {
    const m = /stratus_errors_total\{service="card",code="STRATUS_E_HANDLER_THREW"\} (\d+)/.exec(text);
    return m ? Number(m[1]) : 0;
  };
  let text = "";
  await waitFor(
    async () => {
      text = await (await fetch(`${control}/metrics`)).text();
      return failures(text) >= 1;
    },
    30_000,
    "the card events to fail",
  );
  assert.doesNotMatch(text, /STRATUS_E_MADEUP/);
  const codes = text.match(/stratus_errors_total\{service="card",code="[^"]*"\}/g) ?? [];
  assert.deepEqual([...new Set(codes)], ['stratus_errors_total{service="card",code="STRATUS_E_HANDLER_THREW"}']);
  await neighbourAnswers();
});

test("an SQL result over the cap is a clear STRATUS_E_SQL for the offender; the neighbour keeps answering", async () => {
  for (const what of ["zeroblob", "rows"]) {
    const r = await get(`/big/${what}`);
    const body = (await r.json()) as { code: string; message: string };
    assert.equal(r.status, 500, JSON.stringify(body));
    assert.equal(body.code, "STRATUS_E_SQL", body.message);
    assert.match(body.message, /is over 64 MiB|too big|LIMIT|pages/i);
    await neighbourAnswers();
  }
});
