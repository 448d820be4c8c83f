// Time-driven parts of events, on a clock the test moves: replay from a time, a cron run missed
// while the node was down, overlapping cron runs, and async invocations that fail for good.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ManualClock, startStack } from "../src/testing/index.ts";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const project = tempProject({
  "stratus.yaml": `name: timed
topics:
  tick: { ingest: true }
services:
  app:
    entry: app.ts
    routes: ["GET /runs", "POST /broken", "GET /seen"]
    async: { maxAttempts: 2 }
    bindings: { DB: { sql: {} } }
    subscribe:
      tick: {}
    schedules:
      - cron: "0 * * * *"
  slow:
    entry: slow.ts
    schedules:
      - cron: "* * * * * *"
`,
  "app.ts": `
type DB = { prepare(q: string): { bind(...v: unknown[]): { run(): Promise<unknown> }; run(): Promise<unknown>; raw(): Promise<unknown[][]> } };
let ready: Promise<unknown> | null = null;
const init = (db: DB) => (ready ??= Promise.all([db.prepare("CREATE TABLE IF NOT EXISTS runs (t INTEGER)").run(), db.prepare("CREATE TABLE IF NOT EXISTS seen (id TEXT)").run()]));
export default {
  async fetch(req: Request, env: { DB: DB }): Promise<Response> {
    await init(env.DB);
    const path = new URL(req.url).pathname;
    if (path === "/broken") return new Response("down", { status: 503 });
    const table = path === "/runs" ? "runs" : "seen";
    return Response.json((await env.DB.prepare("SELECT * FROM " + table).raw()).map((r) => r[0]));
  },
  async event(ev: { id: string }, env: { DB: DB }): Promise<void> {
    await init(env.DB);
    await env.DB.prepare("INSERT INTO seen (id) VALUES (?)").bind(ev.id).run();
  },
  async scheduled(c: { scheduledTime: number }, env: { DB: DB }): Promise<void> {
    await init(env.DB);
    await env.DB.prepare("INSERT INTO runs (t) VALUES (?)").bind(c.scheduledTime).run();
  },
};
`,
  "slow.ts": `export default { async scheduled(): Promise<void> { await new Promise((r) => setTimeout(r, 400)); } };`,
});
const dir = mkdtempSync(join(tmpdir(), "stratus-time-"));
after(() => {
  project.remove();
  rmSync(dir, { recursive: true, force: true });
});

const HOUR = 3_600_000;

test("a cron run missed while the node was down runs once on start; replay from a time delivers from there", async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1, 10, 30));
  const opts = { clock, stateDir: join(dir, "state"), eventsFile: join(dir, "events.sqlite") };
  let stack = await startStack(project.dir, opts);
  await stack.host.events.drain();
  clock.advance(HOUR); // 11:30: the 11:00 run is due
  await stack.host.events.drain();
  const runs = async (): Promise<number[]> => (await (await stack.fetch("/runs")).json()) as number[];
  assert.deepEqual(await runs(), [Date.UTC(2030, 0, 1, 11)]);
  await stack.close();

  clock.advance(3 * HOUR); // down through 12:00, 13:00 and 14:00
  stack = await startStack(project.dir, opts);
  await stack.host.events.drain();
  assert.deepEqual(await runs(), [Date.UTC(2030, 0, 1, 11), Date.UTC(2030, 0, 1, 14)], "three missed runs become one, at the latest due time");

  const send = async (id: string): Promise<void> => {
    const r = await stack.fetch("/_stratus/events", {
      method: "POST",
      headers: { "content-type": "application/cloudevents+json" },
      body: JSON.stringify({ specversion: "1.0", id, source: "/t", type: "tick" }),
    });
    assert.equal(r.status, 202);
  };
  await send("t-1");
  clock.advance(60_000);
  const mark = clock.now();
  await send("t-2");
  await send("t-3");
  await stack.host.events.drain();
  await stack.host.events.replay("app:tick", { time: mark });
  await stack.host.events.drain();
  // Handlers of one batch run concurrently: compare as a multiset.
  assert.deepEqual(((await (await stack.fetch("/seen")).json()) as string[]).sort(), ["t-1", "t-2", "t-2", "t-3", "t-3"]);
  await stack.close();
});

test("an async invocation that keeps failing ends failed, with its last response, in the dead-letter store", async () => {
  const clock = new ManualClock();
  const stack = await startStack(project.dir, { clock });
  const res = await stack.fetch("/broken", { method: "POST", headers: { prefer: "respond-async" }, body: "x" });
  assert.equal(res.status, 202);
  const { statusUrl, id } = (await res.json()) as { statusUrl: string; id: string };
  await stack.host.events.drain();
  assert.equal(((await (await stack.fetch(statusUrl)).json()) as { state: string }).state, "queued", "waiting for its second attempt");
  clock.advance(60_000);
  await stack.host.events.drain();
  const status = (await (await stack.fetch(statusUrl)).json()) as { state: string; attempts: number; error: string; result: { status: number; body: string } };
  assert.deepEqual([status.state, status.attempts, status.result.status, status.result.body], ["failed", 2, 503, "down"]);
  assert.match(status.error, /answered 503/);
  assert.equal((await stack.fetch(`${statusUrl}/result`)).status, 502);
  const dead = await stack.host.events.deadLetters("app:_invoke");
  assert.equal(dead.length, 1);
  assert.ok(dead[0]!.event.body.includes(id));
  await stack.close();
});

test("a cron run due while the previous one is still going is skipped", async () => {
  const clock = new ManualClock(Date.UTC(2030, 0, 1, 0, 0, 0, 500));
  const stack = await startStack(project.dir, { clock });
  const slow = (): { runs: number; skipped: number; running: boolean; next: number | null } => stack.host.events.schedules().get("slow#0")!;
  await waitFor(() => slow().next !== null, 5000, "the schedule to be seen");
  clock.advance(1000);
  await waitFor(() => slow().running, 5000, "the first run");
  clock.advance(1000);
  await waitFor(() => slow().skipped === 1, 5000, "the skip");
  await waitFor(() => slow().runs === 1 && !slow().running, 5000, "the first run to end");
  await stack.close();
});
