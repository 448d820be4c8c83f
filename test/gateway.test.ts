// The real gateway on port 0, driven with real HTTP.
import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { buildStack, builtBundles } from "../src/build/index.ts";
import { loadStack } from "../src/config/index.ts";
import { StackHost } from "../src/stack/index.ts";
import { createLogger } from "../src/telemetry/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const lines: Record<string, unknown>[] = [];
const sink = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});

let project: TempProject;
let host: StackHost;
let base = "";

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: gw
gateway: { maxBodySize: 1kb }
services:
  echo:
    entry: echo.ts
    routes: ["POST /echo", "GET /echo/:id", "GET /slow", "GET /stream", "GET /bad-header"]
  other:
    entry: other.ts
    routes: ["GET /other"]
`,
    "echo.ts": `
export default {
  async fetch(request: Request, env: unknown, ctx: { params: Record<string, string> }): Promise<Response> {
    const url = new URL(request.url);
    // Headers refuses such a value (TypeError), so go around it the way hostile code can.
    if (url.pathname === "/bad-header") return new Response("x", { headers: (Headers as unknown as { _fromFlat(f: string[]): Headers })._fromFlat(["x-emoji", "\u{1F600}"]) });
    if (url.pathname === "/slow") { await new Promise((r) => setTimeout(r, 300)); return new Response("slow done"); }
    if (url.pathname === "/stream") {
      let n = 0;
      return new Response(new ReadableStream({
        async pull(c) { await new Promise((r) => setTimeout(r, 5)); if (n < 5) c.enqueue(new TextEncoder().encode("part" + n++ + ";")); else c.close(); },
      }));
    }
    console.log("echoing", ctx.params.id ?? "body");
    if (request.method === "POST") return new Response(await request.text(), { status: 201 });
    return Response.json({ id: ctx.params.id });
  },
};`,
    "other.ts": `export default { fetch: () => new Response("other") };`,
  });
  const stack = loadStack(project.dir);
  const builds = await buildStack(stack);
  host = new StackHost({ logger: createLogger({ json: true, destination: sink }), spares: 0 });
  await host.load(stack, builtBundles(builds));
  const addr = await host.gateway.listen(0, "127.0.0.1");
  base = `http://127.0.0.1:${addr.port}`;
});
after(async () => {
  await host.close();
  project.remove();
});

describe("gateway over HTTP", () => {
  test("routes with path params, echoes bodies, stamps a request id (or keeps the caller's)", async () => {
    const res = await fetch(`${base}/echo/42`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { id: "42" });
    assert.match(res.headers.get("x-request-id") ?? "", /^[0-9a-f-]{36}$/);
    const mine = await fetch(`${base}/echo/1`, { headers: { "x-request-id": "req-abc.1" } });
    assert.equal(mine.headers.get("x-request-id"), "req-abc.1");
    const post = await fetch(`${base}/echo`, { method: "POST", body: "hello body" });
    assert.equal(post.status, 201);
    assert.equal(await post.text(), "hello body");
  });

  test("404 and 405 are JSON with codes; 405 has Allow", async () => {
    const nf = await fetch(`${base}/nope`);
    assert.equal(nf.status, 404);
    assert.equal(((await nf.json()) as { error: { code: string } }).error.code, "STRATUS_E_NOT_FOUND");
    const na = await fetch(`${base}/echo`, { method: "DELETE" });
    assert.equal(na.status, 405);
    assert.equal(na.headers.get("allow"), "POST");
    assert.match(((await na.json()) as { error: { message: string } }).error.message, /DELETE is not routed for \/echo; allowed: POST/);
  });

  test("a body over gateway.maxBodySize gets 413, declared or streamed, and the server keeps serving", async () => {
    const big = await fetch(`${base}/echo`, { method: "POST", body: "x".repeat(2000) });
    assert.equal(big.status, 413);
    assert.equal(((await big.json()) as { error: { code: string } }).error.code, "STRATUS_E_BODY_TOO_LARGE");
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(`${base}/echo`, { method: "POST", headers: { "transfer-encoding": "chunked" } }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      for (let i = 0; i < 5; i++) req.write("y".repeat(500));
      req.end();
    });
    assert.equal(chunked, 413);
    assert.equal((await fetch(`${base}/other`)).status, 200);
  });

  test("a response HTTP cannot carry becomes a 500 that says why, and the server keeps serving", async () => {
    const res = await fetch(`${base}/bad-header`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "STRATUS_E_BAD_RESPONSE");
    assert.match(body.error.message, /service "echo" returned a response HTTP cannot carry/);
    assert.equal((await fetch(`${base}/other`)).status, 200);
  });

  test("streamed bodies are sent chunk by chunk", async () => {
    const res = await fetch(`${base}/stream`);
    assert.equal(res.headers.get("transfer-encoding"), "chunked");
    const reader = res.body!.getReader();
    let chunks = 0;
    let text = "";
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks++;
      text += new TextDecoder().decode(value);
    }
    assert.equal(text, "part0;part1;part2;part3;part4;");
    assert.ok(chunks >= 2, `expected several chunks, got ${chunks}`);
  });

  test("one log line per invocation, and console output carries the same request id", async () => {
    const res = await fetch(`${base}/echo/7`, { headers: { "x-request-id": "log-test-1" } });
    await res.text();
    const mine = lines.filter((l) => l["requestId"] === "log-test-1");
    const inv = mine.find((l) => l["route"] === "GET /echo/:id");
    assert.ok(inv, JSON.stringify(mine));
    assert.equal(inv["service"], "echo");
    assert.equal(inv["status"], 200);
    assert.equal(typeof inv["durationMs"], "number");
    assert.equal(typeof inv["cold"], "boolean");
    assert.equal(typeof inv["time"], "number");
    const consoleLine = mine.find((l) => l["source"] === "console");
    assert.equal(consoleLine?.["msg"], "echoing 7");
  });
});

test("graceful shutdown finishes in-flight requests", async () => {
  const p = tempProject({
    "stratus.yaml": 'name: g\nservices:\n  s:\n    entry: s.ts\n    routes: ["GET /slow"]\n',
    "s.ts": "export default { async fetch() { await new Promise((r) => setTimeout(r, 300)); return new Response('finished'); } };",
  });
  const stack = loadStack(p.dir);
  const [b] = await buildStack(stack);
  assert.ok(b?.ok);
  const h = new StackHost({ logger: createLogger({ json: true, destination: new Writable({ write: (_c, _e, cb) => cb() }) }), spares: 0 });
  await h.load(stack, [{ service: "s", code: b.bundle.code, hash: b.bundle.hash }]);
  const { port } = await h.gateway.listen(0, "127.0.0.1");
  const inflight = fetch(`http://127.0.0.1:${port}/slow`).then((r) => r.text());
  await waitFor(() => h.runtime.status()[0]?.inFlight === 1, 5000, "the request to reach the function");
  const closing = h.close();
  assert.equal(await inflight, "finished");
  await closing;
  await assert.rejects(fetch(`http://127.0.0.1:${port}/slow`));
  p.remove();
});
