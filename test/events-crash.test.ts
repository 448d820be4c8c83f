// Crash test: a stack in a child process is killed with SIGKILL at random moments while a producer
// publishes through a function; after a restart every acknowledged event reaches every subscriber
// at least once. Duplicates are allowed (at-least-once) and reported.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { after, test } from "node:test";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

const project = tempProject({
  "stratus.yaml": `name: crash
services:
  producer:
    entry: producer.ts
    routes: ["POST /publish/:id"]
    scale: { concurrency: 16 }
    bindings: { EVENTS: { publish: [tick] } }
  a:
    entry: sink.ts
    routes: ["GET /a/seen"]
    bindings: { DB: { sql: {} } }
    subscribe: { tick: { startAt: earliest } }
  b:
    entry: sink.ts
    routes: ["GET /b/seen"]
    bindings: { DB: { sql: {} } }
    subscribe: { tick: { startAt: earliest, ordering: key } }
`,
  "producer.ts": `
export default {
  async fetch(_req: Request, env: { EVENTS: { publish(t: string, d: unknown, o: { id: string; key: string }): Promise<{ seq: number }> } }, ctx: { params: { id: string } }): Promise<Response> {
    const r = await env.EVENTS.publish("tick", { id: ctx.params.id }, { id: ctx.params.id, key: ctx.params.id.slice(-1) });
    return Response.json(r);
  },
};
`,
  "sink.ts": `
type DB = { prepare(q: string): { bind(...v: unknown[]): { run(): Promise<unknown> }; run(): Promise<unknown>; raw(): Promise<unknown[][]> } };
let ready: Promise<unknown> | null = null;
const init = (db: DB) => (ready ??= db.prepare("CREATE TABLE IF NOT EXISTS seen (id TEXT)").run());
export default {
  async fetch(_req: Request, env: { DB: DB }): Promise<Response> {
    await init(env.DB);
    return Response.json((await env.DB.prepare("SELECT id FROM seen").raw()).map((r) => r[0]));
  },
  async event(ev: { id: string }, env: { DB: DB }): Promise<void> {
    await init(env.DB);
    await env.DB.prepare("INSERT INTO seen (id) VALUES (?)").bind(ev.id).run();
  },
};
`,
});
const children = new Set<ChildProcess>();
after(() => {
  for (const c of children) c.kill("SIGKILL");
  project.remove();
});

async function startNode(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ["--no-node-snapshot", MAIN, "dev", project.dir, "--workers", "1", "--port", "0", "--no-watch", "--json"], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  children.add(child);
  child.once("exit", () => children.delete(child));
  let text = "";
  let err = "";
  child.stderr.on("data", (c: Buffer) => (err += c.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const onData = (c: Buffer): void => {
      text += c.toString();
      const m = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(text);
      if (m) {
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve(Number(m[1]));
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the node exited (${code}) before serving: ${err}${text}`)));
  });
  return { child, port };
}

async function seen(port: number, sub: "a" | "b"): Promise<string[]> {
  return (await (await fetch(`http://127.0.0.1:${port}/${sub}/seen`)).json()) as string[];
}

test("no acknowledged event is lost when the node is killed with SIGKILL mid-stream", async (t) => {
  const acked = new Set<string>();
  const rounds = 5;
  for (let round = 0; round < rounds; round++) {
    const { child, port } = await startNode();
    let stop = false;
    let n = 0;
    const producer = async (): Promise<void> => {
      while (!stop) {
        const id = `r${round}-${n++}`;
        try {
          const res = await fetch(`http://127.0.0.1:${port}/publish/${id}`, { method: "POST" });
          if (res.status === 200 && ((await res.json()) as { seq?: number }).seq! > 0) acked.add(id);
        } catch {
          return; // the node is gone: this publish was never acknowledged
        }
      }
    };
    const producers = Array.from({ length: 8 }, producer);
    // A random moment: the kill is the point of the test, not a wait for something to happen.
    await waitFor(() => n > 50, 20_000, "some publishes");
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 700));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGKILL");
    stop = true;
    await Promise.all(producers);
    await exited;
  }
  assert.ok(acked.size > 200, `only ${acked.size} events were acknowledged`);
  const { child, port } = await startNode();
  const missing = async (sub: "a" | "b"): Promise<number> => {
    const got = new Set(await seen(port, sub));
    return [...acked].filter((id) => !got.has(id)).length;
  };
  await waitFor(async () => (await missing("a")) === 0 && (await missing("b")) === 0, 60_000, "every acknowledged event at both subscribers");
  const a = await seen(port, "a");
  const b = await seen(port, "b");
  t.diagnostic(`${rounds} SIGKILLs, ${acked.size} acknowledged events; duplicates seen: a ${a.length - new Set(a).size}, b ${b.length - new Set(b).size}`);
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
});
