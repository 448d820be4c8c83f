/**
 * The conformance suite of the EventStore interface, exported so that every backend (SQLite on
 * one node, JetStream on a cluster) runs the same tests against the guarantees interface.ts
 * documents: call `eventStoreSuite(name, make)` from a test file with a factory that returns a
 * fresh, empty store of that backend. Tests never assume where `seq` starts, only that it grows.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AppendInput, EventStore, InvocationRecord } from "./interface.ts";

/** Makes a fresh, empty store (a new file, a new stream prefix or cluster name). */
export type MakeEventStore = () => EventStore | Promise<EventStore>;

/** Options of eventStoreSuite. */
export interface EventStoreSuiteOptions {
  /** Skip the whole suite, with the reason shown in the test report (a backend's server is not running). */
  skip?: string | false;
}

function ev(topic: string, id: string, time = 1000, key: string | null = null, source = "/t"): AppendInput {
  return { topic, id, key, time, source, body: JSON.stringify({ specversion: "1.0", id, source, type: topic }) };
}

function invocation(id: string, service = "svc"): InvocationRecord {
  return {
    id,
    service,
    state: "queued",
    attempts: 0,
    created: 1,
    updated: 1,
    request: { method: "POST", url: "http://x/a", headers: ["a", "b"], body: null },
    result: null,
    error: null,
  };
}

async function withStore(make: MakeEventStore, fn: (s: EventStore) => Promise<void>): Promise<void> {
  const s = await make();
  try {
    await fn(s);
  } finally {
    await s.close();
  }
}

/** Registers the EventStore conformance tests for one backend. */
export function eventStoreSuite(name: string, make: MakeEventStore, opts: EventStoreSuiteOptions = {}): void {
  describe(`EventStore conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    test("append is ordered, deduplicated per (topic, source, id), and readable per topic", () =>
      withStore(make, async (s) => {
        assert.equal(await s.head(), 0, "an empty store's head is 0");
        const [a, b, c] = await s.append([ev("t1", "a"), ev("t2", "a"), ev("t1", "b")]);
        assert.ok(a!.seq > 0 && a!.seq < b!.seq && b!.seq < c!.seq);
        assert.ok(!a!.duplicate && !b!.duplicate && !c!.duplicate);
        const [dup] = await s.append([ev("t1", "a")]);
        assert.deepEqual(dup, { seq: a!.seq, duplicate: true });
        const [otherSource] = await s.append([ev("t1", "a", 1000, null, "/elsewhere")]);
        assert.equal(otherSource!.duplicate, false, "another source's id is another event");
        assert.deepEqual(
          (await s.read("t1", 0, 10)).map((e) => e.seq),
          [a!.seq, c!.seq, otherSource!.seq],
        );
        assert.deepEqual(
          (await s.read("t1", a!.seq, 1)).map((e) => e.seq),
          [c!.seq],
        );
        const [read] = await s.read("t2", 0, 10);
        assert.deepEqual(read, { seq: b!.seq, topic: "t2", key: null, time: 1000, body: ev("t2", "a").body });
        assert.equal(await s.head(), otherSource!.seq);
      }));

    test("duplicates inside one append, and ids the store need not check (dedupe: false)", () =>
      withStore(make, async (s) => {
        const [x, y] = await s.append([ev("t", "same"), ev("t", "same")]);
        assert.deepEqual(y, { seq: x!.seq, duplicate: true });
        const [m, n] = await s.append([
          { ...ev("t", "made"), dedupe: false },
          { ...ev("t", "made"), dedupe: false },
        ]);
        assert.equal(m!.duplicate, false);
        assert.equal(n!.duplicate, false, "ids Stratus made are not checked");
        assert.ok(n!.seq > m!.seq);
        const [k] = await s.append([ev("t", "keyed", 5, "order-1")]);
        assert.equal((await s.read("t", k!.seq - 1, 1))[0]?.key, "order-1");
      }));

    test("a lease is exclusive until it expires; commit needs the lease and the generation", () =>
      withStore(make, async (s) => {
        const [, second] = await s.append([ev("t", "1"), ev("t", "2")]);
        const sub = await s.ensureSubscription("svc:t", "t", "earliest");
        assert.deepEqual({ ...sub }, { name: "svc:t", topic: "t", cursor: 0, generation: 0, owner: null, leaseUntil: 0 });
        assert.equal((await s.ensureSubscription("svc:t", "t", "latest")).cursor, 0, "an existing subscription is kept as it is");
        const held = await s.lease("svc:t", "p1", 100, 200);
        assert.equal(held?.owner, "p1");
        assert.equal(held?.leaseUntil, 200);
        assert.equal(await s.lease("svc:t", "p2", 150, 250), null, "held by p1");
        assert.equal((await s.lease("svc:t", "p1", 150, 300))?.leaseUntil, 300, "the owner renews");
        assert.equal(await s.commit("svc:t", "p2", 0, 1), false, "p2 holds no lease");
        assert.equal(await s.commit("svc:t", "p1", 0, second!.seq - 1), true);
        assert.equal(await s.commit("svc:t", "p1", 0, 0), true);
        assert.equal((await s.subscriptions()).find((x) => x.name === "svc:t")?.cursor, second!.seq - 1, "a cursor never moves back");
        const taken = await s.lease("svc:t", "p2", 300, 400);
        assert.equal(taken?.cursor, second!.seq - 1, "expired: p2 takes over at the committed cursor");
        const reset = await s.reset("svc:t", 0);
        assert.equal(reset.generation, 1);
        assert.equal(reset.cursor, 0);
        assert.equal(await s.commit("svc:t", "p2", 0, 2), false, "a stale generation cannot commit");
        assert.equal(await s.commit("svc:t", "p2", 1, 2), true);
        const latest = await s.ensureSubscription("new:t", "t", "latest");
        assert.equal(latest.cursor, await s.head());
        await assert.rejects(() => s.reset("nope", 0), { code: "STRATUS_E_SUBSCRIPTION_UNKNOWN" });
        assert.deepEqual(
          (await s.subscriptions()).map((x) => x.name),
          ["new:t", "svc:t"],
        );
      }));

    test("unlease frees the lease for another owner at once; only the owner can give it up", () =>
      withStore(make, async (s) => {
        await s.ensureSubscription("a:t", "t", "earliest");
        assert.ok(await s.lease("a:t", "p1", 0, 1000));
        await s.unlease("a:t", "p2");
        assert.equal(await s.lease("a:t", "p2", 10, 1010), null, "p2 could not give up p1's lease");
        await s.unlease("a:t", "p1");
        assert.equal((await s.lease("a:t", "p2", 10, 1010))?.owner, "p2");
      }));

    test("retries come due in time; dead letters keep the error; redrive makes them due again", () =>
      withStore(make, async (s) => {
        const [a, b, c] = await s.append([ev("t", "1"), ev("t", "2"), ev("t", "3")]);
        await s.ensureSubscription("x:t", "t", "earliest");
        await s.ensureSubscription("y:t", "t", "earliest");
        assert.equal(await s.nextRetryAt("x:t"), null);
        await s.scheduleRetry("x:t", a!.seq, 1, 500, "boom");
        await s.scheduleRetry("x:t", b!.seq, 2, 900, "bang");
        await s.scheduleRetry("y:t", c!.seq, 1, 100, "other subscription");
        assert.equal(await s.nextRetryAt("x:t"), 500);
        const due = await s.dueRetries("x:t", 600, 10, new Set());
        assert.deepEqual(
          due.map((r) => [r.event.seq, r.attempts, r.visibleAt, r.lastError]),
          [[a!.seq, 1, 500, "boom"]],
        );
        assert.equal(due[0]?.event.body, ev("t", "1").body, "a retry carries its event");
        assert.deepEqual(
          (await s.dueRetries("x:t", 1000, 10, new Set([a!.seq]))).map((r) => r.event.seq),
          [b!.seq],
          "skip leaves out what is in flight",
        );
        assert.equal((await s.dueRetries("x:t", 1000, 1, new Set())).length, 1, "limit bounds the answer");
        await s.scheduleRetry("x:t", a!.seq, 2, 700, "boom again");
        assert.deepEqual(
          (await s.dueRetries("x:t", 1000, 10, new Set())).map((r) => [r.event.seq, r.attempts, r.lastError]),
          [
            [a!.seq, 2, "boom again"],
            [b!.seq, 2, "bang"],
          ],
          "scheduling again replaces the retry; oldest due first",
        );
        await s.deadLetter("x:t", b!.seq, 3, "bang for good", 950);
        assert.deepEqual(
          (await s.deadLetters("x:t", 0, 10)).map((d) => [d.subscription, d.event.seq, d.attempts, d.error, d.at]),
          [["x:t", b!.seq, 3, "bang for good", 950]],
        );
        assert.deepEqual(await s.deadLetters("x:t", b!.seq, 10), [], "after skips what was seen");
        assert.deepEqual(
          (await s.dueRetries("x:t", 1000, 10, new Set())).map((r) => r.event.seq),
          [a!.seq],
          "a dead letter is no longer a retry",
        );
        const backlog = await s.backlog();
        assert.deepEqual(backlog.get("x:t"), { retries: 1, dead: 1 });
        assert.deepEqual(backlog.get("y:t"), { retries: 1, dead: 0 });
        assert.equal(await s.redrive("x:t", 1000), 1);
        assert.equal(await s.redrive("x:t", 1000), 0, "nothing left to redrive");
        assert.equal((await s.deadLetters("x:t", 0, 10)).length, 0);
        assert.ok((await s.dueRetries("x:t", 1000, 10, new Set())).some((r) => r.event.seq === b!.seq && r.attempts === 0));
        await s.dropRetry("x:t", a!.seq);
        await s.dropRetry("x:t", b!.seq);
        assert.equal(await s.nextRetryAt("x:t"), null);
        assert.equal(await s.nextRetryAt("y:t"), 100, "another subscription's retries are its own");
      }));

    test("redrive of chosen seqs leaves the other dead letters; reset drops waiting retries", () =>
      withStore(make, async (s) => {
        const [a, b, c] = await s.append([ev("t", "1"), ev("t", "2"), ev("t", "3")]);
        await s.ensureSubscription("x:t", "t", "earliest");
        await s.deadLetter("x:t", a!.seq, 1, "e", 1);
        await s.deadLetter("x:t", b!.seq, 1, "e", 1);
        assert.equal(await s.redrive("x:t", 50, [b!.seq, c!.seq]), 1, "only dead letters are redriven");
        assert.deepEqual(
          (await s.deadLetters("x:t", 0, 10)).map((d) => d.event.seq),
          [a!.seq],
        );
        assert.equal(await s.nextRetryAt("x:t"), 50);
        await s.reset("x:t", 0);
        assert.equal(await s.nextRetryAt("x:t"), null, "a replay starts over without the old retries");
        assert.equal((await s.deadLetters("x:t", 0, 10)).length, 1, "dead letters outlive a replay");
      }));

    test("replay by time finds the first event at or after it", () =>
      withStore(make, async (s) => {
        const [first, second] = await s.append([ev("t", "1", 1000), ev("t", "2", 2000), ev("t", "3", 3000)]);
        await s.append([ev("other", "x", 1500)]);
        assert.equal(await s.cursorAtTime("t", 1500), second!.seq - 1);
        assert.equal(await s.cursorAtTime("t", 0), first!.seq - 1);
        assert.equal(await s.cursorAtTime("t", 9999), await s.head(), "after the last event: nothing to replay");
      }));

    test("lag is counted up to a cap, and a bounded read stops at its byte budget", () =>
      withStore(make, async (s) => {
        const pad = "x".repeat(1000);
        const r = await s.append(Array.from({ length: 10 }, (_, i) => ({ ...ev("t", `e${i}`), body: JSON.stringify({ i, pad }) })));
        const seqs = r.map((x) => x.seq);
        const before = seqs[0]! - 1;
        assert.equal(await s.countAfter("t", before, 100), 10);
        assert.equal(await s.countAfter("t", before, 4), 4);
        assert.equal(await s.countAfter("t", seqs[6]!, 100), 3);
        assert.equal(await s.countAfter("none", 0, 100), 0);
        assert.deepEqual(
          (await s.readBounded("t", before, 100, 3500)).map((e) => e.seq),
          seqs.slice(0, 3),
        );
        assert.equal((await s.readBounded("t", before, 100, 10)).length, 1, "one event even when it alone is over the budget");
        assert.equal((await s.readBounded("t", before, 2, 1e9)).length, 2, "limit bounds it too");
        assert.deepEqual(await s.readBounded("t", seqs[9]!, 100, 1e9), []);
      }));

    test("invocations are stored and updated in part; the bound on unfinished ones holds for accepts issued together", () =>
      withStore(make, async (s) => {
        await s.createInvocation(invocation("i1"));
        await s.updateInvocation("i1", { state: "running", attempts: 1, updated: 2 });
        let inv = await s.invocation("i1");
        assert.equal(inv?.state, "running");
        assert.equal(inv?.created, 1, "fields left out of a patch are kept");
        assert.deepEqual(inv?.request, invocation("i1").request);
        await s.updateInvocation("i1", { state: "completed", result: { status: 201, headers: ["x", "y"], body: "aGk=" }, error: null, updated: 3 });
        inv = await s.invocation("i1");
        assert.equal(inv?.state, "completed");
        assert.deepEqual(inv?.result, { status: 201, headers: ["x", "y"], body: "aGk=" });
        assert.equal(inv?.attempts, 1);
        assert.equal(await s.invocation("nope"), null);
        const all = await Promise.allSettled([
          s.createInvocation(invocation("a"), 2),
          s.createInvocation(invocation("b"), 2),
          s.createInvocation(invocation("c"), 2),
        ]);
        assert.deepEqual(
          all.map((r) => r.status),
          ["fulfilled", "fulfilled", "rejected"],
        );
        assert.equal(((all[2] as PromiseRejectedResult).reason as { code: string }).code, "STRATUS_E_OVERLOADED");
        assert.equal(await s.invocation("c"), null, "nothing stored past the bound");
        await s.createInvocation(invocation("d", "other"), 2);
        await s.updateInvocation("a", { state: "completed", updated: 2 });
        await s.createInvocation(invocation("e"), 2);
        assert.equal(await s.pruneInvocations(4), 2, "the finished ones last updated before the time are pruned");
        assert.equal(await s.invocation("a"), null);
        assert.notEqual(await s.invocation("b"), null, "an unfinished one is kept");
      }));

    test("cron due times are claimed once; the cron lease is exclusive", () =>
      withStore(make, async (s) => {
        assert.equal(await s.lastRun("svc#0"), null);
        assert.equal(await s.claimRun("svc#0", 60_000), true);
        assert.equal(await s.claimRun("svc#0", 60_000), false, "the same due time runs once");
        assert.equal(await s.claimRun("svc#0", 30_000), false, "an earlier one never");
        assert.equal(await s.lastRun("svc#0"), 60_000);
        assert.equal(await s.lastRun("svc#1"), null, "schedules are apart");
        const racing = await Promise.all([s.claimRun("svc#1", 120_000), s.claimRun("svc#1", 120_000)]);
        assert.deepEqual(racing.sort(), [false, true], "two claims of one due time: one wins");
        assert.equal(await s.leaseCron("p1", 0, 100), true);
        assert.equal(await s.leaseCron("p1", 50, 150), true, "the holder renews");
        assert.equal(await s.leaseCron("p2", 100, 200), false);
        assert.equal(await s.leaseCron("p2", 150, 250), true, "expired: another takes it");
      }));

    test("prune drops old events every subscription has passed, and nothing a retry or dead letter needs", () =>
      withStore(make, async (s) => {
        const [, b, c, d] = await s.append([ev("t", "1", 10), ev("t", "2", 10), ev("t", "3", 10), ev("t", "4", 10)]);
        const [keep] = await s.append([ev("young", "1", 5000)]);
        await s.ensureSubscription("x:t", "t", "earliest");
        await s.lease("x:t", "p", 0, 1e15);
        await s.commit("x:t", "p", 0, c!.seq);
        await s.deadLetter("x:t", b!.seq, 1, "kept", 0);
        assert.equal(await s.prune(1000, new Map([["t", 100]])), 2);
        assert.deepEqual(
          (await s.read("t", 0, 10)).map((e) => e.seq),
          [b!.seq, d!.seq],
          "a dead letter's event and an event past the cursor stay",
        );
        assert.equal(await s.prune(1000, new Map([["young", 100]])), 0);
        assert.equal((await s.read("young", 0, 10))[0]?.seq, keep!.seq);
        const [again] = await s.append([ev("t", "1", 2000)]);
        assert.equal(again!.duplicate, false, "a pruned id may be used again");
        assert.ok(again!.seq > keep!.seq, "seq never goes back");
      }));

    test("seq never goes back, even after every event of the store was pruned", () =>
      withStore(make, async (s) => {
        const [a] = await s.append([ev("t", "1", 10)]);
        await s.ensureSubscription("late:u", "u", "latest");
        await s.prune(1000, new Map([["t", 100]]));
        const [b] = await s.append([ev("u", "1", 2000)]);
        assert.ok(b!.seq > a!.seq, `the next append got seq ${b!.seq} after ${a!.seq}`);
        assert.ok((await s.head()) >= b!.seq);
        const late = (await s.subscriptions()).find((x) => x.name === "late:u")!;
        assert.deepEqual(
          (await s.read("u", late.cursor, 10)).map((e) => e.seq),
          [b!.seq],
          "a subscription made before the event sees it",
        );
      }));

    test("writes issued together all land, each with its own answer", () =>
      withStore(make, async (s) => {
        const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => s.append([ev("t", `p${i}`)])));
        const seqs = answers.map((r) => r[0]!.seq);
        assert.equal(new Set(seqs).size, 100);
        assert.equal(await s.countAfter("t", 0, 1000), 100);
        assert.equal(await s.head(), Math.max(...seqs));
      }));
  });
}
