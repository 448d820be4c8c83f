// stratus/testing: a stack in-process with a clock the test moves.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tempProject, type TempProject } from "../../test/helpers/project.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { ManualClock, startStack, type TestStack } from "./index.ts";

let project: TempProject;
let stack: TestStack;
const clock = new ManualClock();

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: clocked
services:
  lazy:
    entry: s.ts
    routes: ["GET /lazy/*"]
    scale: { idleTimeout: 30s }
    bindings: { KV: { kv: {} } }
  burst:
    entry: slow.ts
    routes: ["GET /burst"]
    scale: { max: 5, concurrency: 1, idleTimeout: 10s }
  crash:
    entry: crash.ts
    routes: ["GET /crash/*"]
    limits: { cpu: 20ms }
  warm:
    entry: s.ts
    routes: ["GET /warm"]
    scale: { min: 1, idleTimeout: 1s }
    bindings: { KV: { kv: {} } }
`,
    "slow.ts": `export default { async fetch(): Promise<Response> { await new Promise((r) => setTimeout(r, 150)); return new Response("slow"); } };`,
    "crash.ts": `export default { fetch(req: Request): Response { if (req.url.endsWith("/loop")) for (;;); return new Response("fine"); } };`,
    "s.ts": `
export default {
  async fetch(req: Request, env: { KV: { get(k: string): Promise<string | null>; put(k: string, v: string, o?: { expirationTtl?: number }): Promise<void> } }): Promise<Response> {
    const url = new URL(req.url);
    if (url.pathname === "/lazy/put") { await env.KV.put("k", "v", { expirationTtl: 60 }); return new Response("put"); }
    if (url.pathname === "/lazy/get") return new Response(String(await env.KV.get("k")));
    return new Response("ok");
  },
};`,
  });
  stack = await startStack(project.dir, { clock });
});
after(async () => {
  await stack.close();
  project.remove();
});

const instances = (service: string): number => stack.host.runtime.status().find((s) => s.service === service)!.instances;

test("an idle service scales to zero after idleTimeout on the test's clock, and the next request starts it cold", async () => {
  assert.equal(await (await stack.fetch("/lazy/x")).text(), "ok");
  assert.equal(instances("lazy"), 1);
  clock.advance(29_000);
  stack.host.runtime.sweep();
  assert.equal(instances("lazy"), 1, "still within idleTimeout");
  clock.advance(2_000);
  stack.host.runtime.sweep();
  assert.equal(instances("lazy"), 0, "scaled to zero");
  const coldBefore = stack.host.runtime.status().find((s) => s.service === "lazy")!.coldStarts;
  assert.equal(await (await stack.fetch("/lazy/x")).text(), "ok");
  // The autoscaler may start a second one ahead of demand if it ticks while the request is in
  // flight (one request at concurrency 1 is over its 70% target); the request itself starts one.
  assert.ok(instances("lazy") >= 1);
  assert.equal(stack.host.runtime.status().find((s) => s.service === "lazy")!.coldStarts, coldBefore + 1);
});

test("concurrent load scales a service up to scale.max, one instance per request at concurrency 1", async () => {
  const replies = await Promise.all(Array.from({ length: 5 }, () => stack.fetch("/burst")));
  assert.deepEqual(
    replies.map((r) => r.status),
    [200, 200, 200, 200, 200],
  );
  const burst = stack.host.runtime.status().find((s) => s.service === "burst")!;
  assert.equal(burst.instances, 5);
  assert.equal(burst.coldStarts, 5);
});

test("a request in flight when its instance's idle time runs out is served; the instance goes after", async () => {
  clock.advance(60_000);
  stack.host.runtime.sweep(); // every burst instance idle past 10 s: all released
  assert.equal(instances("burst"), 0);
  const inflight = stack.fetch("/burst");
  await waitFor(() => stack.host.runtime.status().find((s) => s.service === "burst")!.inFlight === 1, 5_000, "the request to start");
  clock.advance(60_000);
  stack.host.runtime.sweep();
  assert.equal(instances("burst"), 1, "a busy instance is never released");
  assert.equal(await (await inflight).text(), "slow");
  clock.advance(10_001);
  stack.host.runtime.sweep();
  assert.equal(instances("burst"), 0);
});

test("scale.min instances stay warm however long the service is idle", async () => {
  await stack.fetch("/warm");
  clock.advance(3_600_000);
  stack.host.runtime.sweep();
  assert.equal(instances("warm"), 1);
});

test("a service whose instances keep dying is paused (503 + Retry-After), then tried again after the pause", async () => {
  for (let i = 0; i < 5; i++) assert.equal((await stack.fetch("/crash/loop")).status, 503);
  const paused = await stack.fetch("/crash/fine");
  assert.equal(paused.status, 503);
  assert.equal(paused.headers.get("retry-after"), "1");
  const body = (await paused.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, "STRATUS_E_SERVICE_UNAVAILABLE");
  assert.match(body.error.message, /keeps failing \(5 instances stopped for STRATUS_E_CPU_LIMIT within 10 s\); new instances are paused for 1 s/);
  // Other services are not affected.
  assert.equal(await (await stack.fetch("/lazy/x")).text(), "ok");
  clock.advance(1_001);
  assert.equal(await (await stack.fetch("/crash/fine")).text(), "fine");
});

test("KV expiry follows the same clock", async () => {
  await stack.fetch("/lazy/put");
  assert.equal(await (await stack.fetch("/lazy/get")).text(), "v");
  clock.advance(61_000);
  assert.equal(await (await stack.fetch("/lazy/get")).text(), "null");
});
