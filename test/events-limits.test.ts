// Handlers that hang, loop or publish too much: each failure is retried and then dead-lettered
// with its cause, and the events around it are delivered as usual.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let stack: TestStack;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: limits
topics:
  job: { ingest: true }
services:
  worker:
    entry: worker.ts
    routes: ["GET /done"]
    limits: { timeout: 300ms, cpu: 200ms }
    bindings:
      KV: { kv: {} }
      OUT: { publish: [job] }
    subscribe:
      job: { maxAttempts: 2, backoff: { initial: 10ms, max: 10ms } }
  # The same module with the default limits: a 300 KiB publish on a loaded machine must not meet
  # worker's 300 ms timeout before its size check.
  publisher:
    entry: worker.ts
    routes: ["POST /big"]
    bindings:
      OUT: { publish: [job] }
`,
    "worker.ts": `
type KV = { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void>; list(o: { prefix: string }): Promise<{ keys: { name: string }[] }> };
type Env = { KV: KV; OUT: { publish(t: string, d: unknown): Promise<unknown> } };
export default {
  async fetch(req: Request, env: Env): Promise<Response> {
    if (req.method === "POST") {
      try {
        await env.OUT.publish("job", { kind: "ok", pad: "x".repeat(300 * 1024) });
        return new Response("published");
      } catch (e) {
        const err = e as { code: string; message: string };
        return Response.json({ code: err.code, message: err.message }, { status: 413 });
      }
    }
    const { keys } = await env.KV.list({ prefix: "done:" });
    return new Response(keys.map((k) => k.name.slice(5) + ",").join(""));
  },
  async event(ev: { id: string; data: { kind: string } }, env: Env): Promise<void> {
    if (ev.data.kind === "hang") await new Promise(() => undefined);
    if (ev.data.kind === "loop") for (;;);
    await env.KV.put("done:" + ev.id, "1");
  },
};
`,
  });
  stack = await startStack(project.dir);
});

after(async () => {
  await stack.close();
  project.remove();
});

async function send(id: string, kind: string): Promise<void> {
  const res = await stack.fetch("/_stratus/events", {
    method: "POST",
    headers: { "content-type": "application/cloudevents+json" },
    body: JSON.stringify({ specversion: "1.0", id, source: "/test", type: "job", data: { kind } }),
  });
  assert.equal(res.status, 202);
}

test("a handler that never finishes is cut at limits.timeout, retried, then dead-lettered; its neighbours are delivered", async () => {
  await send("h-1", "hang");
  await send("ok-1", "ok");
  await waitFor(async () => (await stack.host.events.deadLetters("worker:job")).some((d) => d.event.body.includes('"h-1"')), 15_000, "the dead letter");
  const d = (await stack.host.events.deadLetters("worker:job")).find((x) => x.event.body.includes('"h-1"'))!;
  assert.equal(d.attempts, 2);
  assert.match(d.error, /STRATUS_E_TIMEOUT/);
  await waitFor(async () => (await (await stack.fetch("/done")).text()).includes("ok-1"), 15_000, "the neighbour");
});

test("a handler in an endless loop is stopped by limits.cpu and dead-lettered alone", async () => {
  await send("l-1", "loop");
  await send("ok-2", "ok");
  await send("ok-3", "ok");
  await waitFor(async () => (await stack.host.events.deadLetters("worker:job")).some((d) => d.event.body.includes('"l-1"')), 20_000, "the dead letter");
  const dead = await stack.host.events.deadLetters("worker:job");
  const d = dead.find((x) => x.event.body.includes('"l-1"'))!;
  assert.match(d.error, /STRATUS_E_CPU_LIMIT/);
  assert.ok(!dead.some((x) => x.event.body.includes('"ok-')), "no innocent event is dead-lettered with it");
  await waitFor(async () => /ok-2,.*ok-3,|ok-3,.*ok-2,/.test(await (await stack.fetch("/done")).text()), 15_000, "the neighbours");
});

test("a publish over 256 KiB is refused inside the function with its code; nothing is stored", async () => {
  const before = await stack.host.events.store.head();
  const res = await stack.fetch("/big", { method: "POST" });
  assert.equal(res.status, 413);
  const body = (await res.json()) as { code: string; message: string };
  assert.equal(body.code, "STRATUS_E_EVENT_TOO_LARGE");
  assert.match(body.message, /limit is 262144 \(256 KiB\)/);
  assert.equal(await stack.host.events.store.head(), before);
});

test("events for a service with no running version wait (no attempt counted) and are delivered once it is back", async () => {
  const bundles = (await import("../src/build/index.ts")).builtBundles(await (await import("../src/build/index.ts")).buildStack(stack.stack));
  await stack.host.runtime.remove("worker");
  await send("wait-1", "ok");
  // Offered every 250 ms and deferred each time: nothing is dead-lettered meanwhile.
  await new Promise((r) => setTimeout(r, 700));
  assert.ok(!(await stack.host.events.deadLetters("worker:job")).some((d) => d.event.body.includes('"wait-1"')));
  await stack.host.runtime.deploy(
    stack.stack.services.find((s) => s.name === "worker")!,
    bundles.find((b) => b.service === "worker")!,
  );
  await waitFor(async () => (await (await stack.fetch("/done")).text()).includes("wait-1,"), 10_000, "delivery once the service is back");
});

test("a function's data over 256 KiB is refused by its length, before the host parses or copies it", async () => {
  const before = await stack.host.events.store.head();
  // Not JSON at all: refused for its size alone proves nothing parsed it first (parsing 30 MB on
  // the gateway's thread stalled every service).
  const data = "{" + "x".repeat(300 * 1024);
  await assert.rejects(
    stack.host.events.publishFromService("worker", "job", data, { key: null, id: null, subject: null }),
    (err: { code: string; message: string }) => {
      assert.equal(err.code, "STRATUS_E_EVENT_TOO_LARGE");
      assert.match(err.message, /event "job" is 307201 bytes serialised; the limit is 262144/);
      return true;
    },
  );
  assert.equal(await stack.host.events.store.head(), before);
});
