// Exact per-request attribution when many requests share an instance (the default scale): every
// console line and every service call carries the id of the request whose code made it, after
// host I/O, timers, promise chains, microtasks, streamed bodies and waitUntil work, with requests
// interleaving on one isolate. And `scale.concurrency: 1` still gives each request an isolate.
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import pino from "pino";
import { tempProject } from "../../test/helpers/project.ts";
import { startStack } from "../testing/index.ts";

interface Line {
  msg: string;
  source?: string;
  service?: string;
  requestId?: string;
  requestIds?: string[];
}

const N = 50;

// Every request parks on one shared promise that the last request to arrive resolves: each
// continuation after it runs in a turn that another request's code started. Then I/O, timers of
// shuffled delays, then-chains, Promise.all, queueMicrotask, nested async functions, a streamed
// body and waitUntil work interleave the requests further.
const FRONT = `
let arrived = 0;
let open;
const gate = new Promise((r) => (open = r));
async function nested(tag, n) {
  await null;
  console.log("nested " + n + " " + tag);
  if (n > 0) await nested(tag, n - 1);
}
export default {
  async fetch(request, env, ctx) {
    const tag = new URL(request.url).searchParams.get("tag");
    const delay = Number(new URL(request.url).searchParams.get("delay"));
    console.log("sync " + tag);
    if (++arrived === ${N}) open();
    await gate;
    console.log("after-gate " + tag);
    await env.KV.get("k-" + tag);
    console.log("after-io " + tag);
    await new Promise((r) => setTimeout(r, delay));
    console.log("after-timer " + tag);
    await Promise.resolve(1).then((v) => v + 1).then(() => console.log("then-chain " + tag));
    await Promise.all([env.KV.get("a"), new Promise((r) => setTimeout(r, delay % 3))]).then(() => console.log("after-all " + tag));
    await new Promise((r) => queueMicrotask(() => { console.log("microtask " + tag); r(); }));
    await nested(tag, 2);
    await Promise.reject(new Error("x")).catch(() => console.log("catch " + tag)).finally(() => console.log("finally " + tag));
    await env.BACK.fetch("http://back/" + tag);
    console.log("after-call " + tag);
    ctx.waitUntil(new Promise((r) => setTimeout(r, delay)).then(() => console.log("wait-until " + tag)));
    let i = 0;
    const body = new ReadableStream({
      async pull(c) {
        await new Promise((r) => setTimeout(r, 1));
        console.log("pull " + i + " " + tag);
        if (i++ < 2) c.enqueue(new TextEncoder().encode(tag));
        else c.close();
      },
    });
    return new Response(body);
  },
};
`;

const LABELS = (t: string): string[] => [
  `sync ${t}`,
  `after-gate ${t}`,
  `after-io ${t}`,
  `after-timer ${t}`,
  `then-chain ${t}`,
  `after-all ${t}`,
  `microtask ${t}`,
  `nested 2 ${t}`,
  `nested 1 ${t}`,
  `nested 0 ${t}`,
  `catch ${t}`,
  `finally ${t}`,
  `back ${t}`,
  `after-call ${t}`,
  `wait-until ${t}`,
  `pull 0 ${t}`,
  `pull 1 ${t}`,
  `pull 2 ${t}`,
];

describe("per-request attribution with many requests on one instance", () => {
  test(`${N} interleaved requests on one instance: every console line and service call carries exactly its own request id`, async () => {
    const lines: Line[] = [];
    const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as Line) });
    const project = tempProject({
      "stratus.yaml": `name: t
services:
  front:
    entry: front.js
    routes: ["GET /front"]
    scale: { max: 1, concurrency: 64 }
    bindings:
      KV: { kv: {} }
      BACK: { service: back }
  back:
    entry: back.js
`,
      "front.js": FRONT,
      "back.js": `export default { async fetch(request) { await null; console.log("back " + new URL(request.url).pathname.slice(1)); return new Response("ok"); } };`,
    });
    const s = await startStack(project.dir, { logger });
    try {
      const tags = Array.from({ length: N }, (_, i) => `t${i}`);
      const bodies = await Promise.all(
        tags.map((t, i) => s.fetch(`/front?tag=${t}&delay=${(i * 7) % 11}`, { headers: { "x-request-id": `req-${t}` } }).then((r) => r.text())),
      );
      assert.deepEqual(
        bodies,
        tags.map((t) => t + t),
      );
      // waitUntil work ends after the responses, and console lines reach the logger asynchronously
      // (a stream's last pull may log after the client has read the body): wait for all of them.
      const expected = N * LABELS("t").length;
      const deadline = Date.now() + 10_000;
      while (lines.filter((l) => l.source === "console").length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const consoleLines = lines.filter((l) => l.source === "console");
      const wrong: string[] = [];
      for (const t of tags) {
        for (const text of LABELS(t)) {
          const found = consoleLines.filter((x) => x.msg === text);
          if (found.length !== 1) wrong.push(`"${text}" logged ${found.length} times`);
          else if (found[0]!.requestId !== `req-${t}`) wrong.push(`"${text}" carries ${JSON.stringify(found[0]!.requestId ?? found[0]!.requestIds)}`);
        }
        const call = lines.find((l) => l.msg === "service call from front" && l.requestId === `req-${t}`);
        if (!call) wrong.push(`the service call of req-${t} is not logged under its id`);
      }
      const kinds = [...new Set(wrong.map((w) => w.replace(/ t\d+" carries .*/, '" misattributed')))];
      assert.deepEqual(kinds, [], `${wrong.length} lines misattributed, e.g. ${wrong[0]?.slice(0, 200)}`);
    } finally {
      await s.close();
      project.remove();
    }
  });
});

describe("scale.concurrency", () => {
  // Each instance counts the requests it has in flight; a request holds its slot for 20 ms.
  const COUNTER = `
const me = crypto.randomUUID();
let inFlight = 0;
let most = 0;
export default {
  async fetch() {
    most = Math.max(most, ++inFlight);
    await new Promise((r) => setTimeout(r, 20));
    inFlight--;
    return Response.json({ me, most });
  },
};
`;

  async function run(scale: string): Promise<{ instances: number; most: number }> {
    const project = tempProject({
      "stratus.yaml": `name: t\nservices:\n  c:\n    entry: c.js\n    routes: ["GET /"]\n${scale}`,
      "c.js": COUNTER,
    });
    const s = await startStack(project.dir);
    try {
      const out = await Promise.all(Array.from({ length: 8 }, () => s.fetch("/").then((r) => r.json() as Promise<{ me: string; most: number }>)));
      return { instances: new Set(out.map((o) => o.me)).size, most: Math.max(...out.map((o) => o.most)) };
    } finally {
      await s.close();
      project.remove();
    }
  }

  test("explicitly 1 keeps one request per isolate at a time", async () => {
    const r = await run("    scale: { max: 8, concurrency: 1 }\n");
    assert.equal(r.most, 1, "no isolate ever had two requests in flight");
    assert.equal(r.instances, 8, "eight concurrent requests ran on eight isolates");
  });

  test("by default an instance serves many requests at once", async () => {
    const r = await run("");
    assert.ok(r.most > 1, `an instance had ${r.most} requests in flight at most`);
  });
});
