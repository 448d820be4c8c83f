// The cold-start path of a pool: the node-wide budget is asked for while the instance is being
// made (not before), a refused budget disposes what was made, and the blank source hears when each
// start ends (spares are made only between starts).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { tempProject } from "../../test/helpers/project.ts";
import { parseStack } from "../config/index.ts";
import type { Capacity } from "./capacity.ts";
import { createBlankIsolate, type BlankIsolate } from "./instance.ts";
import { Pool, type BlankSource } from "./pool.ts";

// The pool is given its code as a bundle would set it; the entry file only has to exist.
const project = tempProject({ "s.js": "" });
after(() => project.remove());
const service = parseStack(`name: t\nservices:\n  s:\n    entry: s.js\n    routes: ["GET /"]\n`, join(project.dir, "stratus.yaml")).services[0]!;
const code = { code: `globalThis.__stratus_module = { default: { fetch: () => new Response("ok") } };`, hash: "0".repeat(64) };
const host = { io: (): Promise<null> => Promise.resolve(null), log: (): void => undefined };

/** A budget whose answers the test gives, and a blank source that records what happens, in order. */
function harness() {
  const steps: string[] = [];
  const answers: ((ok: boolean) => void)[] = [];
  const capacity: Capacity = {
    take: () => {
      steps.push("budget asked");
      return new Promise((r) => answers.push(r));
    },
    give: () => void steps.push("budget given back"),
  };
  const handed: BlankIsolate[] = [];
  const blanks: BlankSource = {
    take: (mb) => {
      steps.push("start");
      const b = createBlankIsolate(mb);
      handed.push(b);
      return b;
    },
    settled: () => void steps.push("start ended"),
  };
  const pool = new Pool(service, { ...code }, host, blanks, { instanceDied: () => undefined }, Date.now, capacity);
  return { pool, steps, answers, handed };
}

test("a cold start asks for the budget while its instance is being made, and serves once granted", async () => {
  const h = harness();
  const leased = h.pool.acquire();
  assert.deepEqual(h.steps, ["budget asked", "start"], "the instance is being made before the budget's answer");
  h.answers[0]!(true);
  const lease = await leased;
  assert.equal(lease.cold, true);
  assert.deepEqual(h.steps, ["budget asked", "start", "start ended"]);
  const { result } = await lease.instance.invoke({ method: "GET", url: "http://x/", headers: [], body: null, requestId: "r" });
  assert.equal(result.status, 200);
  h.pool.release(lease.instance);
  await h.pool.drain();
});

test("a refused budget disposes the instance made meanwhile, and the request waits for room", async () => {
  const h = harness();
  const leased = h.pool.acquire();
  h.answers[0]!(false);
  const waiting = Promise.resolve(leased).then(
    () => "served",
    (err: unknown) => (err as { code?: string }).code,
  );
  for (let i = 0; i < 500 && !h.steps.includes("start ended"); i++) await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(h.handed[0]!.isolate.isDisposed, true, "the instance made for nothing is gone");
  assert.equal(h.pool.size, 0);
  assert.equal(h.pool.queued, 1, "the request waits like any request past scale.max");
  assert.ok(!h.steps.includes("budget given back"), "nothing was granted, so nothing is given back");
  await h.pool.drain();
  assert.equal(await waiting, "STRATUS_E_SERVICE_UNAVAILABLE");
});

test("after a refusal, a start asks first and makes nothing when refused again (no isolate per refused ask)", async () => {
  const h = harness();
  const first = Promise.resolve(h.pool.acquire()).catch(() => undefined);
  h.answers[0]!(false);
  for (let i = 0; i < 500 && !h.steps.includes("start ended"); i++) await new Promise((r) => setImmediate(r));
  const before = h.steps.length;
  const second = Promise.resolve(h.pool.acquire()).catch(() => undefined);
  for (let i = 0; i < 20 && h.answers.length < 2; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.steps.slice(before), ["budget asked"], "asked, and nothing made before the answer");
  h.answers[1]!(false);
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
  assert.deepEqual(h.steps.slice(before), ["budget asked"], "refused: no instance was made for it");
  assert.equal(h.handed.length, 1);
  assert.equal(h.pool.queued, 2);
  await h.pool.drain();
  await Promise.all([first, second]);
});
