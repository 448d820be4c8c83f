// The autoscaler on real pools, on a clock the test moves: instances started ahead of demand in
// steady state and in a burst (panic), no scale-down while panicking, one instance after the
// stable window, zero after idleTimeout (and nothing started back while the stable window still
// remembers the last request), and a request arriving during scale-down served.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ManualClock, startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let stack: TestStack;
const clock = new ManualClock();

before(async () => {
  const hold = (ms: number): string =>
    `export default { async fetch(): Promise<Response> { await new Promise((r) => setTimeout(r, ${ms})); return new Response("done"); } };`;
  project = tempProject({
    "stratus.yaml": `name: scaling
services:
  steady:
    entry: steady.ts
    routes: ["GET /steady"]
    scale: { max: 10, concurrency: 2, idleTimeout: 30s }
  wide:
    entry: wide.ts
    routes: ["GET /wide"]
    scale: { max: 10, concurrency: 10, idleTimeout: 30s }
  brief:
    entry: brief.ts
    routes: ["GET /brief"]
    scale: { max: 10, concurrency: 10, idleTimeout: 1s }
`,
    "steady.ts": hold(3000),
    "wide.ts": hold(800),
    "brief.ts": hold(300),
  });
  stack = await startStack(project.dir, { clock });
});

after(async () => {
  await stack.close();
  project.remove();
});

const status = (name: string) => stack.host.runtime.status().find((s) => s.service === name)!;

/** Moves the clock in 100 ms autoscaler ticks. */
function run(ms: number): void {
  for (let t = 0; t < ms; t += 100) {
    clock.advance(100);
    stack.host.runtime.sweep();
  }
}

test("steady load: ceil(in flight / (concurrency x 0.7)) instances, started ahead of demand", async () => {
  const work = Array.from({ length: 6 }, () => stack.fetch("/steady"));
  await waitFor(() => status("steady").inFlight === 6, 5000, "6 requests in flight");
  assert.equal(status("steady").instances, 3, "on demand: 6 requests at 2 per instance");
  run(6000); // a whole stable window at 6 in flight
  assert.equal(status("steady").desired, 5);
  assert.equal(status("steady").panic, false);
  await waitFor(() => status("steady").instances === 5, 5000, "2 instances beyond the 3 the requests hold");
  for (const r of await Promise.all(work)) assert.equal(await r.text(), "done");
});

test("a burst panics: an instance is started at once, and nothing is released until a calm stable window", async () => {
  const work = Array.from({ length: 10 }, () => stack.fetch("/wide"));
  await waitFor(() => status("wide").inFlight === 10, 5000, "10 requests in flight");
  assert.equal(status("wide").instances, 1, "10 requests fit one instance (concurrency 10)");
  run(700); // a whole panic window at 10 in flight
  assert.equal(status("wide").panic, true, "10 in flight on one instance wants 2: twice what there is");
  assert.equal(status("wide").desired, 2);
  await waitFor(() => status("wide").instances === 2, 5000, "the second instance");
  for (const r of await Promise.all(work)) assert.equal(await r.text(), "done");
  run(4500);
  assert.equal(status("wide").panic, true);
  assert.equal(status("wide").instances, 2, "idle, but kept while panicking");
  run(2000);
  assert.equal(status("wide").panic, false);
  assert.equal(status("wide").instances, 1, "the excess instance goes once the stable window is calm");
  assert.equal(await (await stack.fetch("/wide")).text(), "done", "a request during scale-down is served");
  run(30_000);
  assert.equal(status("wide").instances, 0, "zero after idleTimeout");
  assert.equal(await (await stack.fetch("/wide")).text(), "done", "and back from zero");
});

test("idle for idleTimeout shorter than the stable window: released to zero, and not started back", async () => {
  const work = stack.fetch("/brief");
  await waitFor(() => status("brief").inFlight === 1, 5000, "the request in flight");
  run(200); // the autoscaler sees it: one instance wanted
  assert.equal(status("brief").desired, 1);
  assert.equal(await (await work).text(), "done");
  run(1100);
  assert.equal(status("brief").instances, 0, "released after idleTimeout (1 s)");
  assert.equal(status("brief").desired, 0, "the 6 s stable window still holds the request, but nothing is wanted back");
  run(1000);
  assert.equal(status("brief").desired, 0);
  assert.equal(status("brief").instances, 0);
  const before = status("brief").coldStarts;
  assert.equal(await (await stack.fetch("/brief")).text(), "done");
  assert.equal(status("brief").coldStarts, before + 1, "the next request is a cold start");
});
