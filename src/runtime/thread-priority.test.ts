// Isolate threads at a lower OS priority than the event loop (thread-priority.ts): for real on this
// process's isolated-vm threads, and with a fake thread table for what /proc cannot be made to do.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { getPriority } from "node:os";
import { test } from "node:test";
import ivm from "isolated-vm";
import { ISOLATE_NICE, IsolateThreadPriority, type ThreadTable } from "./thread-priority.ts";

test("isolate threads get a lower priority and the event loop's thread keeps its own", { skip: process.platform !== "linux" && "Linux only" }, async () => {
  const isolates = Array.from({ length: 3 }, () => new ivm.Isolate({ memoryLimit: 16 }));
  try {
    // Running code puts isolated-vm's threads to work (they start on first use).
    await Promise.all(
      isolates.map(async (iso) => (await iso.compileScript("let x = 0; for (let i = 0; i < 1e5; i++) x += i; x")).run(await iso.createContext())),
    );
    const before = getPriority(process.pid);
    const p = new IsolateThreadPriority();
    assert.ok(p.scan() >= 1, "some isolate thread was lowered");
    const main = readFileSync(`/proc/self/task/${process.pid}/comm`, "utf8").trim();
    const isolateThreads = readdirSync("/proc/self/task")
      .map(Number)
      .filter((t) => t !== process.pid && readFileSync(`/proc/self/task/${t}/comm`, "utf8").trim() === main);
    assert.ok(isolateThreads.length >= 1);
    for (const t of isolateThreads) assert.ok(getPriority(t) >= ISOLATE_NICE, `thread ${t} runs at ${getPriority(t)}`);
    assert.equal(getPriority(process.pid), before, "the event loop's thread is left alone");
    assert.equal(p.scan(), 0, "nothing left to lower");
  } finally {
    for (const iso of isolates) iso.dispose();
  }
});

/** Threads by id: [name, nice]. */
function table(threads: Map<number, [string, number]>, fail?: (tid: number) => Error | null): ThreadTable {
  const find = (tid: number): [string, number] => {
    const t = threads.get(tid);
    if (!t) throw Object.assign(new Error("no such thread"), { code: "ENOENT" });
    return t;
  };
  return {
    threads: () => [...threads.keys()],
    name: (tid) => find(tid)[0],
    get: (tid) => find(tid)[1],
    set: (tid, nice) => {
      const err = fail?.(tid);
      if (err) throw err;
      find(tid)[1] = nice;
    },
  };
}

test("only threads named like the event loop's are lowered, once each", () => {
  const threads = new Map<number, [string, number]>([
    [1, ["MainThread", 0]],
    [2, ["V8Worker", 0]],
    [3, ["libuv-worker", 0]],
    [4, ["MainThread", 0]],
    [5, ["MainThread", 0]],
  ]);
  const p = new IsolateThreadPriority({ table: table(threads), mainTid: 1, nice: 7 });
  assert.equal(p.scan(), 2);
  assert.deepEqual(
    [...threads].map(([t, [, n]]) => [t, n]),
    [
      [1, 0],
      [2, 0],
      [3, 0],
      [4, 7],
      [5, 7],
    ],
  );
  assert.equal(p.scan(), 0);
  // A new isolate thread (isolated-vm starts one when all of its own are busy) is found next time.
  threads.set(6, ["MainThread", 0]);
  assert.equal(p.scan(), 1);
});

test("a thread that ends meanwhile is skipped; any other failure turns it off and is reported once", () => {
  const threads = new Map<number, [string, number]>([
    [1, ["MainThread", 0]],
    [2, ["MainThread", 0]],
    [3, ["MainThread", 0]],
  ]);
  const gone = Object.assign(new Error("uv_os_setpriority returned ESRCH"), { code: "ERR_SYSTEM_ERROR", info: { code: "ESRCH" } });
  let failure: Error | null = gone;
  const errors: unknown[] = [];
  const p = new IsolateThreadPriority({ table: table(threads, (tid) => (tid === 2 ? failure : null)), mainTid: 1, onError: (e) => errors.push(e) });
  assert.equal(p.scan(), 1, "thread 3 lowered, thread 2 ended meanwhile");
  assert.equal(p.enabled, true);
  failure = Object.assign(new Error("uv_os_setpriority returned EACCES"), { code: "ERR_SYSTEM_ERROR", info: { code: "EACCES" } });
  assert.equal(p.scan(), 0);
  assert.equal(p.enabled, false);
  assert.equal(p.scan(), 0);
  assert.equal(errors.length, 1);
});
