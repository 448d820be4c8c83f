// The autoscaler's decisions, on made-up samples: steady state, bursts (panic), scale-down.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Autoscaler } from "./autoscaler.ts";

/** Feeds `value` every 100 ms from `from` to `to` (exclusive); returns the last decision. */
function feed(a: Autoscaler, from: number, to: number, value: number, current: number): ReturnType<Autoscaler["decide"]> {
  let d = a.decide(from, current);
  for (let t = from; t < to; t += 100) {
    a.record(t, value);
    d = a.decide(t, current);
  }
  return d;
}

test("steady load: desired = ceil(average concurrency / (concurrency x 0.7)), no panic", () => {
  const a = new Autoscaler({ concurrency: 10 });
  const d = feed(a, 0, 10_000, 20, 3);
  assert.equal(d.panic, false);
  assert.equal(d.desired, 3); // 20 / 7 = 2.86
  assert.equal(feed(a, 10_000, 20_000, 70, 3).desired, 10, "a slowly rising load follows the stable window");
});

test("a burst panics at once, scales to the burst, and does not scale down until a stable window passes", () => {
  const a = new Autoscaler({ concurrency: 1 });
  feed(a, 0, 6000, 1, 2); // 1 in flight: 2 wanted (0.7 target), 2 there
  const burst = feed(a, 6000, 6300, 20, 2);
  assert.equal(burst.panic, true);
  assert.ok(burst.desired >= 10, `panic follows the burst (${burst.desired})`);
  const after = feed(a, 6300, 9000, 0, burst.desired);
  assert.equal(after.panic, true, "still in panic 2.7 s later");
  assert.ok(after.desired >= burst.desired, "never down while panicking");
  const calm = feed(a, 9000, 20_000, 0, burst.desired);
  assert.equal(calm.panic, false);
  assert.equal(calm.desired, 0, "a quiet stable window wants nothing");
  assert.equal(a.quiet, true);
});

test("no panic while the pool already has the instances the burst needs", () => {
  const a = new Autoscaler({ concurrency: 4 });
  const d = feed(a, 0, 1000, 8, 10);
  assert.equal(d.panic, false);
  assert.equal(d.desired, 3);
});

test("a clock that goes backwards restarts the windows", () => {
  const a = new Autoscaler({ concurrency: 1 });
  feed(a, 10_000, 12_000, 5, 8);
  a.record(0, 0);
  assert.equal(a.decide(0, 8).stableConcurrency, 0);
});
