// `stratus events` against a running two-worker `stratus dev`: the workers share one event store;
// the CLI publishes, tails, lists dead letters, redrives and replays through the control API.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const BIN = new URL("../bin/stratus.js", import.meta.url).pathname;
const run = promisify(execFile);

let project: TempProject;
let dev: DevServer;
let url: string;

async function stratus(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args, "--url", url], { env: { ...process.env, NODE_OPTIONS: "" } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

async function seen(): Promise<string[]> {
  const res = await fetch(`http://127.0.0.1:${dev.port}/seen`);
  return (await res.json()) as string[];
}

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: evcli
topics:
  note.added: {}
services:
  notes:
    entry: notes.ts
    routes: ["GET /seen", "GET /count/:id"]
    bindings: { KV: { kv: {} } }
    subscribe:
      note.added: { maxAttempts: 2, backoff: { initial: 10ms, max: 10ms } }
`,
    "notes.ts": `
type KV = { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void>; list(o: { prefix: string }): Promise<{ keys: { name: string }[] }> };
export default {
  async fetch(req: Request, env: { KV: KV }, ctx: { params: { id?: string } }): Promise<Response> {
    if (ctx.params.id) return new Response((await env.KV.get("count:" + ctx.params.id)) ?? "0");
    const { keys } = await env.KV.list({ prefix: "seen:" });
    return Response.json(keys.map((k) => k.name.slice(5)));
  },
  async event(ev: { id: string; data: { text: string } }, env: { KV: KV }): Promise<void> {
    if (ev.data.text === "cure") await env.KV.put("cured", "1");
    if (ev.data.text === "poison" && (await env.KV.get("cured")) === null) throw new Error("cannot handle poison");
    const n = Number((await env.KV.get("count:" + ev.id)) ?? 0) + 1;
    await env.KV.put("count:" + ev.id, String(n));
    await env.KV.put("seen:" + ev.id, String(n));
  },
};
`,
  });
  dev = testDevServer(project.dir, { controlPort: 0 });
  await dev.start();
  url = `http://127.0.0.1:${dev.controlPort}`;
});

after(async () => {
  await dev.stop();
  project.remove();
});

test("stratus events publish reaches the subscriber in a worker process", async () => {
  const r = await stratus("events", "publish", "note.added", "--data", '{"text":"hello"}', "--id", "n-1", "--json");
  assert.equal(r.code, 0, r.stderr);
  const pub = JSON.parse(r.stdout) as { id: string; seq: number; duplicate: boolean };
  assert.equal(pub.id, "n-1");
  await waitFor(async () => (await seen()).includes("n-1"), 10_000, "delivery");
  const again = await stratus("events", "publish", "note.added", "--data", '{"text":"hello"}', "--id", "n-1");
  assert.match(again.stdout, /duplicate of note\.added id=n-1/);
});

test("bad input: unknown topic, bad JSON, unknown subscription", async () => {
  const topic = await stratus("events", "publish", "no.such", "--data", "{}");
  assert.equal(topic.code, 1);
  assert.match(topic.stderr, /no topic "no\.such" in this stack; topics: "note\.added"/);
  const data = await stratus("events", "publish", "note.added", "--data", "{oops");
  assert.notEqual(data.code, 0);
  assert.match(data.stderr, /--data must be JSON/);
  const sub = await stratus("events", "dlq", "nobody:note.added");
  assert.equal(sub.code, 1);
  assert.match(sub.stderr, /no subscription "nobody:note\.added"; subscriptions are named service:topic: "notes:note\.added"/);
  const from = await stratus("events", "replay", "notes:note.added", "--from", "yesterday-ish");
  assert.equal(from.code, 1);
  assert.match(from.stderr, /neither an offset nor a time/);
});

test("a poison event lands in the DLQ; dlq lists and shows it; redrive delivers it once fixed; replay delivers again", async () => {
  const pub = JSON.parse((await stratus("events", "publish", "note.added", "--data", '{"text":"poison"}', "--id", "p-1", "--json")).stdout) as { seq: number };
  await stratus("events", "publish", "note.added", "--data", '{"text":"fine"}', "--id", "n-2");
  await waitFor(async () => (await seen()).includes("n-2"), 10_000, "the healthy event");
  await waitFor(async () => (await stratus("events", "dlq", "notes:note.added", "--json")).stdout.includes("p-1"), 10_000, "dead letter");
  const list = await stratus("events", "dlq", "notes:note.added");
  assert.match(list.stdout, new RegExp(`${pub.seq}\\s+p-1\\s+2\\s+.*cannot handle poison`));
  const show = JSON.parse((await stratus("events", "dlq", "notes:note.added", "--show", String(pub.seq), "--json")).stdout) as {
    attempts: number;
    error: string;
    event: { data: { text: string } };
  };
  assert.equal(show.attempts, 2);
  assert.deepEqual(show.event.data, { text: "poison" });
  const subs = JSON.parse((await stratus("events", "list", "--json")).stdout) as { subscriptions: { name: string; dead: number }[] };
  assert.equal(subs.subscriptions.find((s) => s.name === "notes:note.added")!.dead, 1);

  // Fix the cause (the handler reads "cured"), then redrive.
  await stratus("events", "publish", "note.added", "--data", '{"text":"cure"}', "--id", "cure");
  await waitFor(async () => (await seen()).includes("cure"), 10_000, "the cure");
  const res = await stratus("events", "redrive", "notes:note.added");
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /redrove 1 dead letter of notes:note\.added/);
  await waitFor(async () => (await seen()).includes("p-1"), 10_000, "the redriven event");
  assert.match((await stratus("events", "dlq", "notes:note.added")).stdout, /no dead letters/);

  const replay = await stratus("events", "replay", "notes:note.added", "--from", "1");
  assert.equal(replay.code, 0, replay.stderr);
  assert.match(replay.stdout, /replays from offset 1/);
  const count = async (): Promise<number> => Number(await (await fetch(`http://127.0.0.1:${dev.port}/count/n-1`)).text());
  await waitFor(async () => (await count()) >= 2, 10_000, "the replayed event");
  const tail = await stratus("events", "tail", "note.added", "--from", "0", "--no-follow");
  assert.match(tail.stdout, /n-1/);
  assert.match(tail.stdout, /p-1/);
});
