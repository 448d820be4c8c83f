// Spare blank isolates are made off the request's path: never while an instance is starting, only
// after a quiet moment following the last start, one at a time. Driven by a manual scheduler and
// a fake maker, so nothing here depends on timing.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { BlankIsolate } from "./instance.ts";
import { Spares } from "./spares.ts";

/** A scheduler the test runs by hand, and a maker that counts (and can hold) what it makes. */
function harness(target: number) {
  const pending: { fn: () => void; ms: number }[] = [];
  let made = 0;
  let disposed = 0;
  const blank = (): BlankIsolate => ({ memoryMb: 128, context: {} as never, isolate: { dispose: () => void disposed++ } as never });
  const spares = new Spares({
    target,
    memoryMb: 128,
    quietMs: 20,
    make: () => {
      made++;
      return Promise.resolve(blank());
    },
    schedule: (fn, ms) => void pending.push({ fn, ms }),
  });
  /** Runs everything scheduled so far (and the promise turns that follow). */
  const runScheduled = async (): Promise<void> => {
    for (const p of pending.splice(0)) p.fn();
    await new Promise((r) => setImmediate(r));
  };
  /** Runs scheduled work until nothing more is scheduled. */
  const settleAll = async (): Promise<void> => {
    for (let i = 0; i < 20 && pending.length > 0; i++) await runScheduled();
  };
  return { spares, pending, runScheduled, settleAll, made: () => made, disposed: () => disposed };
}

test("spares are made up to the target, one per scheduled turn", async () => {
  const h = harness(2);
  assert.equal(h.made(), 0, "nothing is made in the constructor's own turn");
  await h.runScheduled();
  assert.equal(h.made(), 1, "one at a time");
  await h.settleAll();
  assert.equal(h.made(), 2);
  assert.equal(h.spares.size, 2);
  assert.equal(h.pending.length, 0, "nothing more once the target is reached");
});

test("no spare is made while an instance is starting; the refill waits for a quiet moment after it", async () => {
  const h = harness(1);
  await h.settleAll();
  assert.ok(h.spares.take(128), "the start gets the spare");
  await h.settleAll();
  assert.equal(h.made(), 1, "nothing is made while the start is in progress");
  assert.equal(h.spares.size, 0);
  h.spares.settled();
  assert.equal(h.made(), 1, "not in the turn the start ended (its request is still to be served)");
  assert.equal(h.pending.at(-1)?.ms, 20, "after the quiet time");
  await h.settleAll();
  assert.equal(h.made(), 2);
  assert.equal(h.spares.size, 1);
  // Two starts at once: the first one to end does not let a spare be made while the other runs.
  h.spares.take(128);
  h.spares.take(128);
  h.spares.settled();
  await h.settleAll();
  assert.equal(h.made(), 2, "the second start is still in progress");
  h.spares.settled();
  await h.settleAll();
  assert.equal(h.made(), 3);
});

test("a start that begins before the scheduled refill runs puts it off again", async () => {
  const h = harness(1);
  await h.settleAll();
  h.spares.take(128);
  h.spares.settled(); // refill scheduled in 20 ms
  h.spares.take(128); // another cold start before it runs
  await h.runScheduled();
  assert.equal(h.made(), 1, "not made while the second start is in progress");
  h.spares.settled();
  h.spares.take(512); // a start of another memory size: no spare for it, but it is a start all the same
  assert.equal(h.spares.size, 0);
  await h.runScheduled();
  assert.equal(h.made(), 1);
  h.spares.settled();
  await h.settleAll();
  assert.equal(h.made(), 2);
});

test("close disposes the spares, and one still being made when it closes", async () => {
  const h = harness(2);
  await h.settleAll();
  h.spares.close();
  assert.equal(h.disposed(), 2);
  assert.equal(h.spares.size, 0);
  h.spares.take(128);
  h.spares.settled();
  await h.settleAll();
  assert.equal(h.made(), 2, "none made after close");
});
