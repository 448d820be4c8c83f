// The EventStore contract, one suite run against every implementation (only SQLite so far: a
// JetStream store joins the list when it exists).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import type { AppendInput, EventStore } from "./interface.ts";
import { SqliteEventStore } from "./sqlite/store.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function ev(topic: string, id: string, time = 1000, key: string | null = null): AppendInput {
  return { topic, id, key, time, body: JSON.stringify({ specversion: "1.0", id, source: "/t", type: topic }) };
}

function eventStoreSuite(name: string, make: () => EventStore): void {
  describe(`EventStore: ${name}`, () => {
    test("append is ordered, deduplicated per topic, and readable per topic", async () => {
      const s = make();
      const [a, b, c] = await s.append([ev("t1", "a"), ev("t2", "a"), ev("t1", "b")]);
      assert.ok(a!.seq < b!.seq && b!.seq < c!.seq);
      const [dup] = await s.append([ev("t1", "a")]);
      assert.deepEqual(dup, { seq: a!.seq, duplicate: true });
      assert.deepEqual(
        (await s.read("t1", 0, 10)).map((e) => e.seq),
        [a!.seq, c!.seq],
      );
      assert.deepEqual(
        (await s.read("t1", a!.seq, 10)).map((e) => e.seq),
        [c!.seq],
      );
      assert.equal(await s.head(), c!.seq);
      s.close();
    });

    test("a lease is exclusive until it expires; commit needs the lease and the generation", async () => {
      const s = make();
      await s.append([ev("t", "1"), ev("t", "2")]);
      const sub = await s.ensureSubscription("svc:t", "t", "earliest");
      assert.equal(sub.cursor, 0);
      assert.ok(await s.lease("svc:t", "p1", 100, 200));
      assert.equal(await s.lease("svc:t", "p2", 150, 250), null, "held by p1");
      assert.equal(await s.commit("svc:t", "p2", 0, 1), false, "p2 holds no lease");
      assert.equal(await s.commit("svc:t", "p1", 0, 1), true);
      const taken = await s.lease("svc:t", "p2", 200, 300);
      assert.equal(taken?.cursor, 1, "expired: p2 takes over at the committed cursor");
      const reset = await s.reset("svc:t", 0);
      assert.equal(reset.generation, 1);
      assert.equal(await s.commit("svc:t", "p2", 0, 2), false, "a stale generation cannot commit");
      assert.equal(await s.commit("svc:t", "p2", 1, 2), true);
      const latest = await s.ensureSubscription("new:t", "t", "latest");
      assert.equal(latest.cursor, await s.head());
      s.close();
    });

    test("retries come due in time; dead letters keep the error; redrive makes them due again", async () => {
      const s = make();
      const [a, b] = await s.append([ev("t", "1"), ev("t", "2")]);
      await s.ensureSubscription("x:t", "t", "earliest");
      await s.scheduleRetry("x:t", a!.seq, 1, 500, "boom");
      await s.scheduleRetry("x:t", b!.seq, 2, 900, "bang");
      assert.equal(await s.nextRetryAt("x:t"), 500);
      assert.deepEqual(
        (await s.dueRetries("x:t", 600, 10, new Set())).map((r) => [r.event.seq, r.attempts, r.lastError]),
        [[a!.seq, 1, "boom"]],
      );
      assert.equal((await s.dueRetries("x:t", 1000, 10, new Set([a!.seq]))).length, 1, "skip leaves out what is in flight");
      await s.deadLetter("x:t", b!.seq, 3, "bang for good", 950);
      assert.deepEqual(
        (await s.deadLetters("x:t", 0, 10)).map((d) => [d.event.seq, d.attempts, d.error]),
        [[b!.seq, 3, "bang for good"]],
      );
      assert.equal((await s.backlog()).get("x:t")?.dead, 1);
      assert.equal(await s.redrive("x:t", 1000), 1);
      assert.equal((await s.deadLetters("x:t", 0, 10)).length, 0);
      assert.ok((await s.dueRetries("x:t", 1000, 10, new Set())).some((r) => r.event.seq === b!.seq && r.attempts === 0));
      await s.dropRetry("x:t", a!.seq);
      await s.dropRetry("x:t", b!.seq);
      assert.equal(await s.nextRetryAt("x:t"), null);
      s.close();
    });

    test("replay by time finds the first event at or after it", async () => {
      const s = make();
      const [, second] = await s.append([ev("t", "1", 1000), ev("t", "2", 2000), ev("t", "3", 3000)]);
      assert.equal(await s.cursorAtTime("t", 1500), second!.seq - 1);
      assert.equal(await s.cursorAtTime("t", 9999), await s.head(), "after the last event: nothing to replay");
      s.close();
    });

    test("invocations are stored and updated; cron due times are claimed once; the cron lease is exclusive", async () => {
      const s = make();
      const req = { method: "POST", url: "http://x/a", headers: ["a", "b"], body: null };
      await s.createInvocation({ id: "i1", service: "svc", state: "queued", attempts: 0, created: 1, updated: 1, request: req, result: null, error: null });
      await s.updateInvocation("i1", { state: "completed", attempts: 1, result: { status: 201, headers: [], body: "" }, updated: 2 });
      const inv = await s.invocation("i1");
      assert.equal(inv?.state, "completed");
      assert.deepEqual(inv?.request, req);
      assert.equal(inv?.result?.status, 201);
      assert.equal(await s.invocation("nope"), null);
      assert.equal(await s.lastRun("svc#0"), null);
      assert.equal(await s.claimRun("svc#0", 60_000), true);
      assert.equal(await s.claimRun("svc#0", 60_000), false, "the same due time runs once");
      assert.equal(await s.claimRun("svc#0", 30_000), false, "an earlier one never");
      assert.equal(await s.lastRun("svc#0"), 60_000);
      assert.equal(await s.leaseCron("p1", 0, 100), true);
      assert.equal(await s.leaseCron("p2", 50, 150), false);
      assert.equal(await s.leaseCron("p2", 100, 200), true);
      s.close();
    });

    test("prune drops old events every subscription has passed, and nothing a retry or dead letter needs", async () => {
      const s = make();
      const [a, b, c] = await s.append([ev("t", "1", 10), ev("t", "2", 10), ev("t", "3", 10)]);
      await s.ensureSubscription("x:t", "t", "earliest");
      await s.lease("x:t", "p", 0, 1e15);
      await s.commit("x:t", "p", 0, c!.seq);
      await s.deadLetter("x:t", b!.seq, 1, "kept", 0);
      assert.equal(await s.prune(1000, new Map([["t", 100]])), 2);
      assert.deepEqual(
        (await s.read("t", 0, 10)).map((e) => e.seq),
        [b!.seq],
      );
      const [again] = await s.append([ev("t", "1", 2000)]);
      assert.equal(again!.duplicate, false, "a pruned id may be used again");
      void a;
      s.close();
    });
  });
}

eventStoreSuite("SqliteEventStore, in memory", () => new SqliteEventStore({ file: ":memory:" }));
eventStoreSuite("SqliteEventStore, on disk", () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  return new SqliteEventStore({ file: join(dir, "events.sqlite") });
});

test("SqliteEventStore: an acknowledged append is in the file for the next process (reopen)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const s = new SqliteEventStore({ file });
  const [r] = await s.append([ev("t", "kept")]);
  // No close(): the next opener must see it anyway (WAL, committed before the promise resolved).
  const other = new SqliteEventStore({ file });
  assert.deepEqual(
    (await other.read("t", 0, 10)).map((e) => e.seq),
    [r!.seq],
  );
  other.close();
  s.close();
});

test("SqliteEventStore: a file from before the partial dedup index is migrated, and its ids stay deduplicated", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const old = new DatabaseSync(file);
  old.exec(
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL, key TEXT, time INTEGER NOT NULL, body TEXT NOT NULL); CREATE UNIQUE INDEX events_topic_id ON events (topic, id); INSERT INTO events (topic, id, key, time, body) VALUES ('t', 'kept', NULL, 1, '{}');",
  );
  old.close();
  const s = new SqliteEventStore({ file });
  const [again] = await s.append([ev("t", "kept")]);
  assert.equal(again!.duplicate, true);
  const [fresh, twin] = await s.append([
    { ...ev("t", "generated"), dedupe: false },
    { ...ev("t", "generated"), dedupe: false },
  ]);
  assert.equal(fresh!.duplicate, false);
  assert.equal(twin!.duplicate, false, "ids Stratus made are not checked");
  s.close();
});

test("SqliteEventStore: identity is (topic, source, id); a file deduplicating on (topic, id) is migrated from the stored sources", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const old = new DatabaseSync(file);
  old.exec(
    `CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL, key TEXT, time INTEGER NOT NULL, body TEXT NOT NULL, dedup_id TEXT);
     CREATE UNIQUE INDEX events_dedup ON events (topic, dedup_id) WHERE dedup_id IS NOT NULL;
     INSERT INTO events (topic, id, key, time, body, dedup_id) VALUES ('t', 'ship-1', NULL, 1, '{"id":"ship-1","source":"/carrier"}', 'ship-1');
     PRAGMA user_version = 1;`,
  );
  old.close();
  const s = new SqliteEventStore({ file });
  const [same] = await s.append([{ ...ev("t", "ship-1"), source: "/carrier" }]);
  assert.equal(same!.duplicate, true, "the stored event keeps its identity");
  assert.equal(same!.seq, 1);
  const [other] = await s.append([{ ...ev("t", "ship-1"), source: "/evil" }]);
  assert.equal(other!.duplicate, false, "another source's id is another event");
  const [again] = await s.append([{ ...ev("t", "ship-1"), source: "/evil" }]);
  assert.deepEqual(again, { seq: other!.seq, duplicate: true });
  s.close();
});

test("SqliteEventStore: lag is counted up to a cap and a bounded read stops at its byte budget", async () => {
  const s = new SqliteEventStore({ file: ":memory:" });
  const pad = "x".repeat(1000);
  await s.append(Array.from({ length: 10 }, (_, i) => ({ ...ev("t", `e${i}`), body: JSON.stringify({ i, pad }) })));
  assert.equal(await s.countAfter("t", 0, 100), 10);
  assert.equal(await s.countAfter("t", 0, 4), 4);
  assert.equal(await s.countAfter("t", 7, 100), 3);
  const some = await s.readBounded("t", 0, 100, 3500);
  assert.deepEqual(
    some.map((e) => e.seq),
    [1, 2, 3],
  );
  assert.equal((await s.readBounded("t", 0, 100, 10)).length, 1, "one event even when it alone is over the budget");
  s.close();
});

test("SqliteEventStore: the bound on a service's unfinished invocations holds for accepts in one commit", async () => {
  const s = new SqliteEventStore({ file: ":memory:" });
  const inv = (id: string, service = "svc") => ({
    id,
    service,
    state: "queued" as const,
    attempts: 0,
    created: 1,
    updated: 1,
    request: { method: "POST", url: "/x", headers: [], body: null },
    result: null,
    error: null,
  });
  const all = await Promise.allSettled([s.createInvocation(inv("a"), 2), s.createInvocation(inv("b"), 2), s.createInvocation(inv("c"), 2)]);
  assert.deepEqual(
    all.map((r) => r.status),
    ["fulfilled", "fulfilled", "rejected"],
  );
  assert.equal(((all[2] as PromiseRejectedResult).reason as { code: string }).code, "STRATUS_E_OVERLOADED");
  assert.equal(await s.invocation("c"), null, "nothing stored past the bound");
  await s.createInvocation(inv("d", "other"), 2);
  await s.updateInvocation("a", { state: "completed", updated: 2 });
  await s.createInvocation(inv("e"), 2);
  assert.equal(await s.pruneInvocations(3), 1, "the finished one is pruned");
  assert.equal(await s.invocation("a"), null);
  assert.notEqual(await s.invocation("b"), null, "an unfinished one is kept");
  s.close();
});
