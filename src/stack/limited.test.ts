// mapLimited: the bound StackHost.load deploys a big stack with (each deploy holds an isolate
// while it proves the code loads; a 1,000-service stack deployed all at once held 1,000 together).
import assert from "node:assert/strict";
import { test } from "node:test";
import { mapLimited } from "./limited.ts";

test("at most `limit` calls run at once, and the results keep the items' order", async () => {
  let running = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const done = mapLimited([...Array(20).keys()], 4, async (n) => {
    running++;
    most = Math.max(most, running);
    await new Promise<void>((r) => gates.push(r));
    running--;
    return n * 2;
  });
  // Open the gates one by one, in reverse order of arrival, until all 20 have run.
  for (let opened = 0; opened < 20; opened++) {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
    assert.ok(running <= 4, `${running} running at once`);
    gates.pop()!();
    await new Promise((r) => setImmediate(r));
  }
  assert.deepEqual(
    await done,
    [...Array(20).keys()].map((n) => n * 2),
  );
  assert.equal(most, 4, "the bound is used");
});

test("a rejection rejects the map", async () => {
  await assert.rejects(
    mapLimited([1, 2, 3], 2, (n) => (n === 2 ? Promise.reject(new Error("two")) : Promise.resolve(n))),
    /two/,
  );
  assert.deepEqual(await mapLimited([], 4, () => Promise.resolve(1)), []);
});
