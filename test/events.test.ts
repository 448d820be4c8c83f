// Durable events end to end in one process: publish from a function, delivery to subscribers,
// retries on an injected clock, dead letters and redrive, per-key order, idempotent publish,
// replay, cron and async invocation.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ManualClock, startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let stack: TestStack;
const clock = new ManualClock(Date.UTC(2030, 0, 1, 0, 0, 30));

const STACK = `name: ev
topics:
  payment.settled: { ingest: true }
services:
  orders:
    entry: orders.ts
    routes: ["POST /orders", "POST /publish/:topic", "GET /slow"]
    bindings:
      EVENTS: { publish: [order.created, order.flaky] }
  sink:
    entry: sink.ts
    routes: ["GET /seen/:topic"]
    bindings:
      DB: { sql: {} }
    subscribe:
      order.created: {}
      order.flaky: { maxAttempts: 3, backoff: { initial: 1s, max: 10s }, ordering: key }
      payment.settled: { maxAttempts: 2 }
    schedules:
      - cron: "* * * * *"
`;

const ORDERS = `
type Env = { EVENTS: { publish(topic: string, data: unknown, o?: { key?: string; id?: string }): Promise<{ id: string; seq: number; duplicate: boolean }> } };
export default {
  async fetch(req: Request, env: Env, ctx: { params: Record<string, string> }): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/slow") return new Response("done later", { status: 201, headers: { "x-kind": "slow" } });
    const body = await req.json() as { data: unknown; key?: string; id?: string };
    const topic = url.pathname === "/orders" ? "order.created" : ctx.params.topic!;
    try {
      return Response.json(await env.EVENTS.publish(topic, body.data, { key: body.key, id: body.id }));
    } catch (e) {
      const err = e as { code?: string; message?: string };
      return Response.json({ code: err.code, message: err.message }, { status: 403 });
    }
  },
};
`;

const SINK = `
type Env = { DB: { prepare(q: string): { bind(...v: unknown[]): { run(): Promise<unknown>; all(): Promise<{ results: unknown[] }> }; run(): Promise<unknown>; all(): Promise<{ results: unknown[] }> } } };
let ready = false;
async function init(env: Env) {
  if (ready) return;
  await env.DB.prepare("CREATE TABLE IF NOT EXISTS seen (n INTEGER PRIMARY KEY, topic TEXT, id TEXT, key TEXT, data TEXT, attempt INTEGER)").run();
  await env.DB.prepare("CREATE TABLE IF NOT EXISTS runs (n INTEGER PRIMARY KEY, t INTEGER, cron TEXT)").run();
  ready = true;
}
const tries = new Map<string, number>();
export default {
  async fetch(req: Request, env: Env, ctx: { params: Record<string, string> }): Promise<Response> {
    await init(env);
    if (ctx.params.topic === "cron") return Response.json((await env.DB.prepare("SELECT t, cron FROM runs ORDER BY n").all()).results);
    return Response.json((await env.DB.prepare("SELECT id, key, data, attempt FROM seen WHERE topic = ? ORDER BY n").bind(ctx.params.topic).all()).results);
  },
  async event(event: { type: string; id: string; partitionkey?: string; data: { fail?: number; permanent?: boolean; n?: number } }, env: Env): Promise<void> {
    await init(env);
    const t = (tries.get(event.id) ?? 0) + 1;
    tries.set(event.id, t);
    if (event.data?.permanent) throw Object.assign(new Error("bad payload"), { permanent: true });
    if (event.data?.fail !== undefined && t <= event.data.fail) throw new Error("try " + t + " fails");
    await env.DB.prepare("INSERT INTO seen (topic, id, key, data, attempt) VALUES (?, ?, ?, ?, ?)").bind(event.type, event.id, event.partitionkey ?? null, JSON.stringify(event.data), t).run();
  },
  async scheduled(c: { cron: string; scheduledTime: number }, env: Env): Promise<void> {
    await init(env);
    await env.DB.prepare("INSERT INTO runs (t, cron) VALUES (?, ?)").bind(c.scheduledTime, c.cron).run();
  },
};
`;

async function publish(topic: string, data: unknown, o: { key?: string; id?: string } = {}): Promise<{ id: string; seq: number; duplicate: boolean }> {
  const res = await stack.fetch(`/publish/${topic}`, { method: "POST", body: JSON.stringify({ data, ...o }) });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()) as { id: string; seq: number; duplicate: boolean };
}

async function seen(topic: string): Promise<{ id: string; key: string | null; data: string; attempt: number }[]> {
  const res = await stack.fetch(`/seen/${topic}`);
  return (await res.json()) as { id: string; key: string | null; data: string; attempt: number }[];
}

before(async () => {
  project = tempProject({ "stratus.yaml": STACK, "orders.ts": ORDERS, "sink.ts": SINK });
  stack = await startStack(project.dir, { clock });
});

after(async () => {
  await stack.close();
  project.remove();
});

test("an event published by one function reaches the subscriber as a CloudEvent", async () => {
  const res = await stack.fetch("/orders", { method: "POST", body: JSON.stringify({ data: { orderId: "o-1" } }) });
  const pub = (await res.json()) as { id: string; seq: number };
  assert.ok(pub.seq > 0);
  await stack.host.events.drain();
  const rows = await seen("order.created");
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.id, pub.id);
  assert.deepEqual(JSON.parse(rows[0]!.data), { orderId: "o-1" });
});

test("a publish to a topic the service was not granted is refused with the fix", async () => {
  const res = await stack.fetch("/publish/payment.settled", { method: "POST", body: JSON.stringify({ data: {} }) });
  assert.equal(res.status, 403);
  const body = (await res.json()) as { code: string; message: string };
  assert.equal(body.code, "STRATUS_E_PUBLISH_DENIED");
  assert.match(body.message, /bindings\.EVENTS\.publish/);
});

test("the same event id is stored once (idempotent publish)", async () => {
  const a = await publish("order.created", { n: 1 }, { id: "same-id" });
  const b = await publish("order.created", { n: 2 }, { id: "same-id" });
  assert.equal(a.duplicate, false);
  assert.equal(b.duplicate, true);
  assert.equal(b.seq, a.seq);
  await stack.host.events.drain();
  assert.equal((await seen("order.created")).filter((r) => r.id === "same-id").length, 1);
});

test("a failing handler is retried with backoff on the clock, then succeeds", async () => {
  await publish("order.flaky", { fail: 2 }, { id: "flaky-1", key: "k-retry" });
  await stack.host.events.drain();
  assert.equal((await seen("order.flaky")).filter((r) => r.id === "flaky-1").length, 0, "not before the backoff");
  clock.advance(1000);
  await stack.host.events.drain();
  clock.advance(2000);
  await stack.host.events.drain();
  const rows = (await seen("order.flaky")).filter((r) => r.id === "flaky-1");
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.attempt, 3);
});

test("events with one key are handled in order, one at a time, while a failing one is retried", async () => {
  await publish("order.flaky", { n: 1, fail: 1 }, { key: "k-order", id: "ko-1" });
  await publish("order.flaky", { n: 2 }, { key: "k-order", id: "ko-2" });
  await publish("order.flaky", { n: 3 }, { key: "k-other", id: "kx-3" });
  await stack.host.events.drain();
  let rows = (await seen("order.flaky")).filter((r) => r.key === "k-order" || r.key === "k-other");
  assert.deepEqual(
    rows.map((r) => r.id),
    ["kx-3"],
    "the other key goes ahead; ko-2 waits behind ko-1",
  );
  clock.advance(1000);
  await stack.host.events.drain();
  rows = (await seen("order.flaky")).filter((r) => r.key === "k-order");
  assert.deepEqual(
    rows.map((r) => r.id),
    ["ko-1", "ko-2"],
  );
});

test("an event that keeps failing goes to the dead-letter store with its error, and redrive delivers it again", async () => {
  await publish("order.flaky", { fail: 3 }, { id: "poison-1", key: "k-poison" });
  await publish("order.flaky", { n: 9 }, { id: "healthy-1", key: "k-healthy" });
  for (let i = 0; i < 4; i++) {
    await stack.host.events.drain();
    clock.advance(10_000);
  }
  await stack.host.events.drain();
  assert.ok(
    (await seen("order.flaky")).some((r) => r.id === "healthy-1"),
    "a poison event delays no other key",
  );
  const dead = await stack.host.events.deadLetters("sink:order.flaky");
  const d = dead.find((x) => x.event.body.includes("poison-1"));
  assert.ok(d, "dead-lettered");
  assert.equal(d.attempts, 3);
  assert.match(d.error, /try 3 fails/);
  assert.equal(await stack.host.events.redrive("sink:order.flaky"), 1);
  await stack.host.events.drain();
  const rows = (await seen("order.flaky")).filter((r) => r.id === "poison-1");
  assert.equal(rows.length, 1, "the fourth try succeeds after redrive");
  assert.equal((await stack.host.events.deadLetters("sink:order.flaky")).length, 0);
});

test("a handler can fail permanently: no retries, straight to the dead-letter store", async () => {
  await publish("order.created", { permanent: true }, { id: "perm-1" });
  await stack.host.events.drain();
  const d = (await stack.host.events.deadLetters("sink:order.created")).find((x) => x.event.body.includes("perm-1"));
  assert.ok(d);
  assert.equal(d.attempts, 1);
  assert.match(d.error, /bad payload/);
});

test("replay from an offset delivers the topic again from that event", async () => {
  const first = await publish("order.created", { n: "replay-a" }, { id: "replay-a" });
  await publish("order.created", { n: "replay-b" }, { id: "replay-b" });
  await stack.host.events.drain();
  const before = (await seen("order.created")).length;
  await stack.host.events.replay("sink:order.created", { seq: first.seq });
  await stack.host.events.drain();
  const rows = await seen("order.created");
  assert.ok(rows.length >= before + 2);
  // One batch runs its handlers concurrently: the two may land in either order.
  assert.deepEqual(
    rows
      .slice(-2)
      .map((r) => r.id)
      .sort(),
    ["replay-a", "replay-b"],
  );
});

test("CloudEvents from outside: structured and binary mode accepted on ingest topics, anything else refused", async () => {
  const structured = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "1.0", id: "ext-1", source: "/stripe", type: "payment.settled", data: { amount: 5 } }),
  });
  assert.equal(structured.status, 202, await structured.clone().text());
  const binary = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": "ext-2", "ce-source": "/stripe", "ce-type": "payment.settled" },
    body: JSON.stringify({ amount: 7 }),
  });
  assert.equal(binary.status, 202);
  const notCe = await stack.fetch("/_stratus/events", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  assert.equal(notCe.status, 400);
  assert.match(((await notCe.json()) as { error: { message: string } }).error.message, /ce-specversion/);
  const closed = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "1.0", id: "x", source: "/x", type: "order.created" }),
  });
  assert.equal(closed.status, 403);
  const unknown = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "1.0", id: "x", source: "/x", type: "no.such" }),
  });
  assert.equal(unknown.status, 404);
  const big = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "1.0", id: "big", source: "/x", type: "payment.settled", data: "x".repeat(300 * 1024) }),
  });
  assert.equal(big.status, 413);
  await stack.host.events.drain();
  const rows = await seen("payment.settled");
  assert.deepEqual(
    rows.map((r) => [r.id, JSON.parse(r.data)]),
    [
      ["ext-1", { amount: 5 }],
      ["ext-2", { amount: 7 }],
    ],
  );
});

test("cron runs scheduled() at its due time, and a missed run once", async () => {
  await stack.host.events.drain();
  const start = ((await (await stack.fetch("/seen/cron")).json()) as unknown[]).length;
  clock.advance(60_000);
  await stack.host.events.drain();
  const runs = (await (await stack.fetch("/seen/cron")).json()) as { t: number; cron: string }[];
  assert.equal(runs.length, start + 1);
  assert.equal(runs.at(-1)!.t % 60_000, 0, "scheduledTime is the due minute");
  assert.equal(runs.at(-1)!.cron, "* * * * *");
  clock.advance(5 * 60_000);
  await stack.host.events.drain();
  const later = (await (await stack.fetch("/seen/cron")).json()) as unknown[];
  assert.equal(later.length, start + 2, "five missed minutes run once");
});

test("Prefer: respond-async answers 202 with a status URL; the result can be fetched later", async () => {
  const res = await stack.fetch("/slow", { headers: { prefer: "respond-async" } });
  assert.equal(res.status, 202);
  const body = (await res.json()) as { id: string; statusUrl: string };
  assert.equal(res.headers.get("location"), body.statusUrl);
  await stack.host.events.drain();
  const status = (await (await stack.fetch(body.statusUrl)).json()) as { state: string; result: { status: number; body: string } };
  assert.equal(status.state, "completed");
  assert.equal(status.result.status, 201);
  assert.equal(status.result.body, "done later");
  const result = await stack.fetch(`${body.statusUrl}/result`);
  assert.equal(result.status, 201);
  assert.equal(result.headers.get("x-kind"), "slow");
  assert.equal(await result.text(), "done later");
  const missing = await stack.fetch("/_stratus/invocations/00000000-0000-0000-0000-000000000000");
  assert.equal(missing.status, 404);
});

test("a finished async invocation is kept for 24 hours, then pruned: nothing an outside client leaves behind is kept forever", async () => {
  const res = await stack.fetch("/slow", { headers: { prefer: "respond-async" } });
  const { statusUrl } = (await res.json()) as { statusUrl: string };
  await stack.host.events.drain();
  assert.equal(((await (await stack.fetch(statusUrl)).json()) as { state: string }).state, "completed");
  clock.advance(23 * 3600_000);
  await stack.host.events.drain();
  assert.equal((await stack.fetch(statusUrl)).status, 200, "kept within the retention");
  clock.advance(3600_000 + 61_000);
  await waitFor(async () => (await stack.fetch(statusUrl)).status === 404, 10_000, "the invocation to be pruned");
  const gone = (await (await stack.fetch(statusUrl)).json()) as { error: { code: string } };
  assert.equal(gone.error.code, "STRATUS_E_INVOCATION_UNKNOWN");
});

test("deliveries are counted per subscription and outcome in /metrics", async () => {
  const text = await stack.host.metrics.registry.metrics();
  assert.match(text, /stratus_events_total\{service="sink",subscription="sink:order\.created",outcome="delivered"\} [1-9]/);
  assert.match(text, /stratus_events_total\{service="sink",subscription="sink:order\.flaky",outcome="dead"\} [1-9]/);
  assert.match(text, /stratus_events_total\{service="sink",subscription="sink:order\.flaky",outcome="retried"\} [1-9]/);
});
