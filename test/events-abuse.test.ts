// The event system attacked from outside, through a real two-worker `stratus dev` over HTTP: an
// unauthenticated client may not pre-empt another source's event ids or claim a service's source,
// may not fill the store through batches or async invocations without bound, and sees no stack
// traces; an operator's answers (tail) stay bounded however large the backlog.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let dev: DevServer;
let gw: string;
let control: string;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: evabuse
topics:
  ext: { ingest: true }
  loop: {}
services:
  good:
    entry: good.ts
    routes: ["ANY /good/*"]
    async: { maxAttempts: 1 }
  looper:
    entry: looper.ts
    routes: ["POST /looper", "GET /looper"]
    bindings: { EV: { publish: [loop] }, KV: { kv: {} } }
    subscribe: { loop: { maxAttempts: 1 } }
  slow:
    entry: slow.ts
    routes: ["POST /slow"]
    limits: { timeout: 30s }
`,
    "good.ts": `
export default {
  async fetch(req: Request): Promise<Response> {
    if (new URL(req.url).searchParams.has("throw")) throw new Error("boom");
    return new Response("ok");
  },
};
`,
    "looper.ts": `
type KV = { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void> };
type Env = { EV: { publish(t: string, d: unknown): Promise<unknown> }; KV: KV };
export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    if (req.method === "GET") return new Response((await env.KV.get("refused")) ?? "");
    await env.EV.publish("loop", { gen: 0 });
    return new Response("started");
  },
  async event(ev: { data: { gen: number }; stratusdepth?: number }, env: Env): Promise<void> {
    if ((ev.stratusdepth ?? 0) !== ev.data.gen) throw new Error("depth " + ev.stratusdepth + " at generation " + ev.data.gen);
    try {
      await env.EV.publish("loop", { gen: ev.data.gen + 1 });
    } catch (e) {
      const err = e as { code: string; message: string };
      await env.KV.put("refused", ev.data.gen + " " + err.code + " " + err.message);
      throw e;
    }
  },
};
`,
    "slow.ts": `
export default {
  async fetch(): Promise<Response> {
    await new Promise(() => undefined);
    return new Response("never");
  },
};
`,
  });
  dev = testDevServer(project.dir, { controlPort: 0 });
  await dev.start();
  gw = `http://127.0.0.1:${dev.port}`;
  control = `http://127.0.0.1:${dev.controlPort}`;
});

after(async () => {
  await dev.stop();
  project.remove();
});

function binary(id: string, source: string, data: unknown): Promise<Response> {
  return fetch(`${gw}/_stratus/events`, {
    method: "POST",
    headers: { "ce-specversion": "1.0", "ce-id": id, "ce-source": source, "ce-type": "ext", "content-type": "application/json" },
    body: JSON.stringify(data),
  });
}

type Accepted = { accepted: { id: string; seq: number; duplicate: boolean }[] };
type Tail = { events: { seq: number; event: { source: string; data: unknown } }[]; next: number };

test("an outside client cannot pre-empt another source's event id: identity is source + id", async () => {
  const evil = (await (await binary("ship-1", "/evil", { status: "lost" })).json()) as Accepted;
  const carrier = await binary("ship-1", "/carrier", { status: "delivered" });
  assert.equal(carrier.status, 202);
  const got = (await carrier.json()) as Accepted;
  assert.equal(got.accepted[0]!.duplicate, false, "the carrier's event is stored, not taken for /evil's");
  const again = (await (await binary("ship-1", "/carrier", { status: "delivered" })).json()) as Accepted;
  assert.deepEqual(again.accepted[0], { ...got.accepted[0]!, duplicate: true }, "a retry by the same source is still deduplicated");
  const tail = (await (await fetch(`${control}/v1/events/topics/ext?after=${evil.accepted[0]!.seq - 1}`)).json()) as Tail;
  assert.deepEqual(
    tail.events.map((e) => [e.event.source, e.event.data]),
    [
      ["/evil", { status: "lost" }],
      ["/carrier", { status: "delivered" }],
    ],
  );
});

test("an outside client cannot claim a source Stratus publishes as (/services/<name>)", async () => {
  const head = (await (await fetch(`${control}/v1/events/topics/ext?after=end`)).json()) as Tail;
  for (const source of ["/services/good", "/gateway", "/cli"]) {
    const res = await binary(`forged-${source}`, source, { forged: true });
    assert.equal(res.status, 403, source);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "STRATUS_E_PUBLISH_DENIED");
    assert.match(body.error.message, /is reserved for events Stratus publishes/);
  }
  const after = (await (await fetch(`${control}/v1/events/topics/ext?after=${head.next}`)).json()) as Tail;
  assert.deepEqual(after.events, [], "nothing forged was stored");
});

test("a CloudEvents batch is bounded: 101 events are refused whole, 100 are accepted", async () => {
  const batch = (n: number, tag: string): Promise<Response> =>
    fetch(`${gw}/_stratus/events`, {
      method: "POST",
      headers: { "content-type": "application/cloudevents-batch+json" },
      body: JSON.stringify(Array.from({ length: n }, (_, i) => ({ specversion: "1.0", id: `${tag}-${i}`, source: "/batcher", type: "ext", data: i }))),
    });
  const big = await batch(101, "big");
  assert.equal(big.status, 413);
  const err = (await big.json()) as { error: { code: string; message: string } };
  assert.equal(err.error.code, "STRATUS_E_EVENT_TOO_LARGE");
  assert.match(err.error.message, /holds 101 events; the limit is 100 per request/);
  const ok = await batch(100, "fits");
  assert.equal(ok.status, 202);
  assert.equal(((await ok.json()) as Accepted).accepted.length, 100);
});

test("tail answers are bounded by bytes: a backlog of large events comes back in pages, following next", async () => {
  const pad = "x".repeat(250_000);
  let first = 0;
  for (let i = 0; i < 20; i++) {
    const r = (await (await binary(`big-${i}`, "/bulk", pad)).json()) as Accepted;
    if (i === 0) first = r.accepted[0]!.seq;
  }
  const page = await fetch(`${control}/v1/events/topics/ext?after=${first - 1}&limit=1000`);
  const text = await page.text();
  const body = JSON.parse(text) as Tail;
  assert.ok(body.events.length >= 1 && body.events.length < 20, `one page held ${body.events.length} of 20 events`);
  assert.ok(text.length < 5 * 1024 * 1024, `the answer is ${text.length} bytes`);
  let seen = body.events.length;
  let next = body.next;
  while (seen < 20) {
    const more = (await (await fetch(`${control}/v1/events/topics/ext?after=${next}&limit=1000`)).json()) as Tail;
    assert.ok(more.events.length > 0, "every page makes progress");
    seen += more.events.filter((e) => e.event.source === "/bulk").length;
    next = more.next;
  }
  assert.equal(seen, 20);
  const subs = await fetch(`${control}/v1/events/subscriptions`);
  assert.equal(subs.status, 200);
});

test("an async invocation that throws shows the first line of its error to the client, never the stack", async () => {
  const accepted = await fetch(`${gw}/good/x?throw`, { method: "POST", headers: { prefer: "respond-async" } });
  assert.equal(accepted.status, 202);
  const { statusUrl } = (await accepted.json()) as { statusUrl: string };
  let status: { state: string; error: string | null } = { state: "queued", error: null };
  await waitFor(
    async () => {
      status = (await (await fetch(`${gw}${statusUrl}`)).json()) as typeof status;
      return status.state === "failed";
    },
    15_000,
    "the invocation to fail",
  );
  assert.match(status.error!, /^STRATUS_E_HANDLER_THREW: .*boom/);
  assert.ok(!status.error!.includes("\n"), `one line: ${status.error}`);
  assert.doesNotMatch(status.error!, /\bat .*good\.(js|ts)/);
});

test("async invocations of one service are bounded: past the limit, 429 with Retry-After; its neighbour still answers", async () => {
  const post = (): Promise<number> =>
    fetch(`${gw}/slow`, { method: "POST", headers: { prefer: "respond-async" }, body: "x" }).then(async (r) => {
      await r.arrayBuffer();
      return r.status;
    });
  const statuses: number[] = [];
  for (let round = 0; round < 20; round++) statuses.push(...(await Promise.all(Array.from({ length: 50 }, post))));
  assert.deepEqual(
    statuses.filter((s) => s !== 202),
    [],
    "the first 1000 are accepted",
  );
  const over = await fetch(`${gw}/slow`, { method: "POST", headers: { prefer: "respond-async" }, body: "x" });
  assert.equal(over.status, 429);
  assert.ok(Number(over.headers.get("retry-after")) > 0);
  const err = (await over.json()) as { error: { code: string; message: string } };
  assert.equal(err.error.code, "STRATUS_E_OVERLOADED");
  assert.match(err.error.message, /service "slow" has 1000 async invocations waiting/);
  const neighbour = await fetch(`${gw}/good/x`, { method: "POST", headers: { prefer: "respond-async" } });
  assert.equal(neighbour.status, 202, "another service's async path is not affected");
  assert.equal(await (await fetch(`${gw}/good/x`)).text(), "ok");
});

test("a handler that publishes to its own topic stops at the documented depth; the loop's events are few and counted", async () => {
  assert.equal((await fetch(`${gw}/looper`, { method: "POST" })).status, 200);
  let refused = "";
  await waitFor(async () => (refused = await (await fetch(`${gw}/looper`)).text()) !== "", 20_000, "the publish past the limit to be refused");
  assert.match(
    refused,
    /^8 STRATUS_E_PUBLISH_DENIED publish loop: service "looper" publishes to "loop" while handling an event 8 handlings deep \(the limit is 8\)/,
  );
  const tail = (await (await fetch(`${control}/v1/events/topics/loop?after=0&limit=1000`)).json()) as Tail;
  assert.deepEqual(
    tail.events.map((e) => (e.event.data as { gen: number }).gen),
    [0, 1, 2, 3, 4, 5, 6, 7, 8],
    "one event per generation up to the limit, then nothing",
  );
  await waitFor(
    async () => {
      const r = (await (await fetch(`${control}/v1/events/subscriptions/looper:loop/dead`)).json()) as { dead?: unknown[]; deadLetters?: unknown[] };
      return JSON.stringify(r).includes("publish loop");
    },
    20_000,
    "the refused handling to be dead-lettered with its cause",
  );
});
