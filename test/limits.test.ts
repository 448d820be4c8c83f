// Resource limits around an isolate, attacked through real HTTP against `stratus dev`: timers,
// egress and service-call bodies, Wasm memory and never-ending streamed bodies.
// Each hostile function gets a clear error (or is stopped), and a neighbour service in the same
// worker keeps answering.
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let dev: DevServer;
let base = "";
let upstream: Server;
/** What the upstream server saw of its last big body: bytes written and whether it got to the end. */
const sent = { bytes: 0, finished: false, closed: false };

/** GET through the gateway, with a generous hang guard (not a timing assertion). */
const get = (path: string, init: RequestInit = {}): Promise<Response> => fetch(`${base}${path}`, { signal: AbortSignal.timeout(60_000), ...init });

/** Streams `total` bytes in 1 MiB chunks without a content-length, minding backpressure. */
function streamBody(res: ServerResponse, total: number): void {
  sent.bytes = 0;
  sent.finished = false;
  sent.closed = false;
  res.writeHead(200, { "content-type": "application/octet-stream" });
  const chunk = Buffer.alloc(1024 * 1024, 120);
  res.on("close", () => (sent.closed = true));
  const pump = (): void => {
    while (sent.bytes < total && !res.destroyed) {
      sent.bytes += chunk.length;
      if (!res.write(chunk)) return void res.once("drain", pump);
    }
    if (!res.destroyed) {
      sent.finished = true;
      res.end();
    }
  };
  pump();
}

// A module of one function, `grow(pages)`: memory.grow on its own memory (1 page, no maximum).
const GROW_WASM = [
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x06, 0x01, 0x60, 0x01, 0x7f, 0x01, 0x7f, 0x03, 0x02, 0x01, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01, 0x07,
  0x08, 0x01, 0x04, 0x67, 0x72, 0x6f, 0x77, 0x00, 0x00, 0x0a, 0x08, 0x01, 0x06, 0x00, 0x20, 0x00, 0x40, 0x00, 0x0b,
];
// A module whose own memory starts at 16384 pages (1 GiB).
const BIG_WASM = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x05, 0x01, 0x00, 0x80, 0x80, 0x01];

before(async () => {
  upstream = createServer((req, res) => {
    if (req.url === "/big") return streamBody(res, 50 * 1024 * 1024);
    if (req.url === "/headers") {
      const h: string[] = [];
      for (let i = 0; i < 300; i++) h.push(`x-h-${i}`, "v");
      res.writeHead(200, h);
      return void res.end("ok");
    }
    res.end("small");
  });
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  const port = (upstream.address() as AddressInfo).port;
  project = tempProject({
    "stratus.yaml": `name: limits
services:
  neighbour:
    entry: neighbour.ts
    routes: ["GET /neighbour"]
  timers:
    entry: timers.ts
    routes: ["GET /timers/*"]
    scale: { max: 1 }
  spin:
    entry: spin.ts
    routes: ["GET /spin"]
    limits: { cpu: 200ms, timeout: 20s }
  egress:
    entry: egress.ts
    routes: ["GET /egress/*"]
    limits: { memory: 64 }
    bindings:
      UP: { egress: ["127.0.0.1:${port}"] }
      BIG: { service: big }
  uploader:
    entry: egress.ts
    routes: ["GET /uploader/*"]
    # Building a 40 MiB body takes CPU; on a loaded machine more than the default second.
    limits: { memory: 512, cpu: 30s, timeout: 60s }
    bindings:
      UP: { egress: ["127.0.0.1:${port}"] }
  big:
    entry: big.ts
    routes: ["GET /big"]
  wasm:
    entry: wasm.ts
    routes: ["GET /wasm/*"]
    limits: { memory: 64 }
  wasm2:
    entry: wasm.ts
    routes: ["GET /wasm2/*"]
    limits: { memory: 64 }
  drip:
    entry: drip.ts
    routes: ["GET /drip/*", "HEAD /drip/*"]
    limits: { timeout: 1s }
    scale: { max: 1 }
`,
    "neighbour.ts": `export default { fetch() { return new Response("neighbour ok"); } };`,
    "timers.ts": `
let ticks = 0;
export default {
  async fetch(request: Request): Promise<Response> {
    const p = new URL(request.url).pathname;
    if (p === "/timers/arm") {
      setInterval(() => { ticks++; }, 1);
      return new Response("armed");
    }
    if (p === "/timers/watch") {
      const before = ticks;
      // Gives an interval left over from an earlier request every chance to run.
      await new Promise((r) => setTimeout(r, 50));
      return Response.json({ before, after: ticks });
    }
    if (p === "/timers/flood") {
      let armed = 0;
      try {
        for (let i = 0; i < 50_000; i++) { setInterval(() => { ticks++; }, 1); armed++; }
      } catch (e) {
        return Response.json({ armed, code: (e as { code?: string }).code, message: (e as Error).message });
      }
      return Response.json({ armed, code: null });
    }
    return new Response("?", { status: 404 });
  },
};`,
    // CPU spent in timer callbacks, while the request waits, counts against limits.cpu.
    "spin.ts": `
export default {
  async fetch(): Promise<Response> {
    setInterval(() => { const end = Date.now() + 20; while (Date.now() < end) {} }, 1);
    await new Promise(() => {});
    return new Response("never");
  },
};`,
    "egress.ts": `
async function attempt(f: () => Promise<Response>): Promise<Response> {
  try {
    const res = await f();
    return Response.json({ ok: true, bytes: (await res.arrayBuffer()).byteLength });
  } catch (e) {
    return Response.json({ ok: false, code: (e as { code?: string }).code, message: (e as Error).message });
  }
}
export default {
  async fetch(request: Request, env: any): Promise<Response> {
    const p = new URL(request.url).pathname;
    if (p === "/egress/big") return attempt(() => env.UP.fetch("http://127.0.0.1:${port}/big"));
    if (p === "/egress/headers") return attempt(() => env.UP.fetch("http://127.0.0.1:${port}/headers"));
    if (p === "/egress/small") return attempt(() => env.UP.fetch("http://127.0.0.1:${port}/small"));
    // 40 MiB: within a 512 MB isolate's own heap, over the 32 MiB a body may carry out.
    if (p === "/uploader/upload") return attempt(() => env.UP.fetch("http://127.0.0.1:${port}/small", { method: "POST", body: new Uint8Array(40 * 1024 * 1024) }));
    if (p === "/egress/service") return attempt(() => env.BIG.fetch("http://big/big"));
    return new Response("?", { status: 404 });
  },
};`,
    // Streams 24 MiB: more than a 64 MB caller may take in (16 MiB).
    "big.ts": `
export default {
  fetch(): Response {
    let left = 24;
    const chunk = new Uint8Array(1024 * 1024).fill(65);
    return new Response(new ReadableStream({
      pull(c) { if (left-- > 0) c.enqueue(chunk); else c.close(); },
    }));
  },
};`,
    "wasm.ts": `
const GROW = new Uint8Array(${JSON.stringify(GROW_WASM)});
const BIG = new Uint8Array(${JSON.stringify(BIG_WASM)});
const EMPTY = new Uint8Array([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
function attempt(f: () => unknown): Response {
  try {
    return Response.json({ ok: true, value: f() });
  } catch (e) {
    return Response.json({ ok: false, code: (e as { code?: string }).code, message: (e as Error).message });
  }
}
export default {
  async fetch(request: Request): Promise<Response> {
    const p = new URL(request.url).pathname;
    if (p === "/wasm/memory") return attempt(() => new WebAssembly.Memory({ initial: 16384 }).buffer.byteLength);
    if (p === "/wasm/grow-js") return attempt(() => { const m = new WebAssembly.Memory({ initial: 1 }); m.grow(16383); return m.buffer.byteLength; });
    if (p === "/wasm/declared") return attempt(() => new WebAssembly.Instance(new WebAssembly.Module(BIG)));
    if (p === "/wasm2/grow-inside") {
      const { instance } = await WebAssembly.instantiate(GROW);
      const grow = instance.exports.grow as (n: number) => number;
      return Response.json({ small: grow(15), huge: grow(16000) });
    }
    if (p === "/wasm/async") {
      const module = await WebAssembly.compile(EMPTY);
      const instance = await WebAssembly.instantiate(module);
      return Response.json({ module: String(module), instance: String(instance) });
    }
    if (p === "/wasm/resizable") return attempt(() => { const b = new ArrayBuffer(0, { maxByteLength: 1024 * 1024 * 1024 }); b.resize(1024 * 1024 * 1024); return b.byteLength; });
    if (p === "/wasm/resizable-small") return attempt(() => { const b = new ArrayBuffer(8, { maxByteLength: 1024 }); b.resize(1024); return [b.byteLength, b instanceof ArrayBuffer, b.resizable]; });
    if (p === "/wasm/growable-shared") return attempt(() => typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(0, { maxByteLength: 1024 * 1024 * 1024 }).byteLength : "none");
    if (p === "/wasm/buffer") return attempt(() => new ArrayBuffer(1024 * 1024 * 1024).byteLength);
    return new Response("?", { status: 404 });
  },
};`,
    "drip.ts": `
export default {
  fetch(request: Request): Response {
    const p = new URL(request.url).pathname;
    if (p === "/drip/forever") {
      return new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("first byte")); } }));
    }
    return new Response("drip ok");
  },
};`,
  });
  dev = testDevServer(project.dir, { workers: 1 });
  base = `http://127.0.0.1:${await dev.start()}`;
});

after(async () => {
  await dev?.stop();
  await new Promise<void>((r) => upstream.close(() => r()));
  project.remove();
});

async function neighbourAnswers(): Promise<void> {
  const res = await get("/neighbour");
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "neighbour ok");
}

test("timers do not outlive the request that set them, and one instance may hold at most 10,000", async () => {
  assert.equal(await (await get("/timers/arm")).text(), "armed");
  // The interval set by /arm was dropped when that request finished: it no longer ticks.
  const watched = (await (await get("/timers/watch")).json()) as { before: number; after: number };
  assert.equal(watched.after, watched.before);

  const flood = (await (await get("/timers/flood")).json()) as { armed: number; code: string | null; message: string };
  assert.equal(flood.code, "STRATUS_E_TIMER_LIMIT");
  assert.equal(flood.armed, 10_000);
  assert.match(flood.message, /already has 10000 timers pending/);
  // And the 10,000 were dropped with the request too.
  const again = (await (await get("/timers/watch")).json()) as { before: number; after: number };
  assert.equal(again.after, again.before);
  await neighbourAnswers();
});

test("CPU spent in timer callbacks counts against limits.cpu", async () => {
  const res = await get("/spin");
  assert.equal(res.status, 503);
  assert.equal(((await res.json()) as { error: { code: string } }).error.code, "STRATUS_E_CPU_LIMIT");
  await neighbourAnswers();
});

test("an egress body without content-length is cut at the cap and the upstream transfer aborted", async () => {
  const r = (await (await get("/egress/big")).json()) as { ok: boolean; code: string; message: string };
  assert.equal(r.ok, false);
  assert.equal(r.code, "STRATUS_E_FETCH_TOO_LARGE");
  assert.match(r.message, /over 16777216 bytes; the limit is 16777216 bytes \(a quarter of limits.memory/);
  // The upstream saw its connection closed before it could send the whole 50 MiB.
  await waitFor(() => sent.closed, 30_000, "the upstream connection to close");
  assert.equal(sent.finished, false);
  assert.ok(sent.bytes < 50 * 1024 * 1024);
  assert.deepEqual(await (await get("/egress/small")).json(), { ok: true, bytes: 5 });
  await neighbourAnswers();
});

test("egress request bodies, response header lists and service-binding bodies are bounded too", async () => {
  const headers = (await (await get("/egress/headers")).json()) as { ok: boolean; code: string; message: string };
  assert.equal(headers.code, "STRATUS_E_FETCH_TOO_LARGE", JSON.stringify(headers));
  assert.match(headers.message, /has 30\d headers; the limit is 256/);
  const upload = (await (await get("/uploader/upload")).json()) as { ok: boolean; code: string; message: string };
  assert.equal(upload.code, "STRATUS_E_FETCH_TOO_LARGE", JSON.stringify(upload));
  assert.match(upload.message, /the request body is 41943040 bytes; the limit is 33554432/);
  const svc = (await (await get("/egress/service")).json()) as { ok: boolean; code: string; message: string };
  assert.equal(svc.code, "STRATUS_E_FETCH_TOO_LARGE", JSON.stringify(svc));
  assert.match(svc.message, /service "big": the response body is over 16777216 bytes/);
  await neighbourAnswers();
});

test("WebAssembly memory and resizable buffers count against limits.memory, however they are made", async () => {
  type R = { ok: boolean; code?: string; message?: string; value?: unknown };
  const made = (await (await get("/wasm/memory")).json()) as R;
  assert.equal(made.code, "STRATUS_E_MEMORY_LIMIT");
  assert.match(made.message!, /new WebAssembly.Memory\(\) needs 1024 MB outside the JavaScript heap.*count against limits\.memory/);
  const declared = (await (await get("/wasm/declared")).json()) as R;
  assert.equal(declared.code, "STRATUS_E_MEMORY_LIMIT");
  // WebAssembly.compile and instantiate settle (instantiate(bytes) used to hang in the isolate).
  assert.deepEqual(await (await get("/wasm/async")).json(), { module: "[object WebAssembly.Module]", instance: "[object WebAssembly.Instance]" });
  // Plain ArrayBuffers were already inside the limit (isolated-vm counts them).
  const buf = (await (await get("/wasm/buffer")).json()) as R;
  assert.equal(buf.ok, false);
  // Resizable and growable buffers reserve their maxByteLength the same way.
  const resizable = (await (await get("/wasm/resizable")).json()) as R;
  assert.equal(resizable.code, "STRATUS_E_MEMORY_LIMIT");
  assert.match(resizable.message!, /maxByteLength: 1073741824/);
  assert.deepEqual(await (await get("/wasm/resizable-small")).json(), { ok: true, value: [1024, true, true] });
  const shared = (await (await get("/wasm/growable-shared")).json()) as R;
  assert.ok(shared.value === "none" || shared.code === "STRATUS_E_MEMORY_LIMIT", JSON.stringify(shared));
  // grow() from JS stops at the maximum the constructor set (the budget).
  const grown = (await (await get("/wasm/grow-js")).json()) as R;
  assert.equal(grown.ok, false);
  // memory.grow inside a module fails as out-of-memory does in Wasm (-1) past the budget.
  assert.deepEqual(await (await get("/wasm2/grow-inside")).json(), { small: 1, huge: -1 });
  await neighbourAnswers();
});

test("a streamed body that never ends is cut at limits.timeout and the instance's slot is freed", async () => {
  // Headers are out once the body starts, so the gateway can only cut the connection: the client
  // never sees a clean end. (Under load the deadline can pass before the first chunk, and then the
  // cut comes before the client has even read the status.)
  await assert.rejects(get("/drip/forever").then((res) => res.text()));
  // scale.max 1, concurrency 1: this is answered only if the stream's slot was given back.
  assert.equal(await (await get("/drip/ok")).text(), "drip ok");
  // A streamed body nobody reads (HEAD) gives its slot back too.
  assert.equal((await get("/drip/forever", { method: "HEAD" })).status, 200);
  assert.equal(await (await get("/drip/ok")).text(), "drip ok");
  await neighbourAnswers();
});
