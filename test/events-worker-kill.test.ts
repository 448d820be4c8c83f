// Two-worker `stratus dev`: the worker delivering a subscription is killed with SIGKILL while
// events are published; the other worker takes the subscription over and every acknowledged
// event is still delivered.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let dev: DevServer;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: killer
services:
  pub:
    entry: pub.ts
    routes: ["POST /pub/:id", "GET /seen"]
    scale: { concurrency: 8 }
    bindings:
      OUT: { publish: [tick] }
      KV: { kv: {} }
    subscribe:
      tick: { startAt: earliest }
`,
    "pub.ts": `
type KV = { put(k: string, v: string): Promise<void>; list(o: { prefix: string; cursor?: string }): Promise<{ keys: { name: string }[]; list_complete: boolean; cursor?: string }> };
type Env = { OUT: { publish(t: string, d: unknown, o: { id: string }): Promise<{ seq: number }> }; KV: KV };
export default {
  async fetch(req: Request, env: Env, ctx: { params: { id?: string } }): Promise<Response> {
    if (req.method === "POST") return Response.json(await env.OUT.publish("tick", {}, { id: ctx.params.id! }));
    const names: string[] = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await env.KV.list({ prefix: "seen:", ...(cursor ? { cursor } : {}) });
      names.push(...page.keys.map((k) => k.name.slice(5)));
      if (page.list_complete) break;
      cursor = page.cursor;
    }
    return Response.json(names);
  },
  async event(ev: { id: string }, env: Env): Promise<void> {
    await env.KV.put("seen:" + ev.id, "1");
  },
};
`,
  });
  dev = testDevServer(project.dir, { controlPort: 0 });
  await dev.start();
});

after(async () => {
  await dev.stop();
  project.remove();
});

test("killing the worker that delivers a subscription loses no acknowledged event", { timeout: 180_000 }, async () => {
  const base = `http://127.0.0.1:${dev.port}`;
  const control = `http://127.0.0.1:${dev.controlPort}`;
  const acked = new Set<string>();
  let stop = false;
  let n = 0;
  const producer = async (): Promise<void> => {
    while (!stop) {
      const id = `e-${n++}`;
      try {
        // Bounded: a connection handed to the worker as it was killed must not hold the producer forever.
        const res = await fetch(`${base}/pub/${id}`, { method: "POST", signal: AbortSignal.timeout(10_000) });
        if (res.status === 200) acked.add(id);
      } catch {
        // a connection to the killed worker: not acknowledged
      }
    }
  };
  const producers = Array.from({ length: 4 }, producer);
  try {
    await waitFor(() => acked.size > 100, 20_000, "some acknowledged events");
    type Sub = { name: string; owner: string | null };
    let owner: string | null = null;
    await waitFor(
      async () => {
        const subs = ((await (await fetch(`${control}/v1/events/subscriptions`)).json()) as { subscriptions: Sub[] }).subscriptions;
        owner = subs.find((s) => s.name === "pub:tick")?.owner ?? null;
        return owner !== null;
      },
      10_000,
      "the subscription's owner",
    );
    const pid = Number(owner!.split(":")[1]);
    assert.ok(dev.workerPids().includes(pid), `the owner ${owner} is one of the workers ${dev.workerPids().join(", ")}`);
    process.kill(pid, "SIGKILL");
    await waitFor(() => acked.size > 300, 20_000, "publishing goes on through the other worker");
  } finally {
    // Failed or not, the producers stop: left running they keep the dev server from stopping.
    stop = true;
    await Promise.all(producers);
  }
  await waitFor(
    async () => {
      const seen = new Set((await (await fetch(`${base}/seen`, { signal: AbortSignal.timeout(10_000) })).json()) as string[]);
      return [...acked].every((id) => seen.has(id));
    },
    30_000,
    "every acknowledged event delivered after the takeover",
  );
});
