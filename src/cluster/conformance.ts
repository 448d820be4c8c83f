/**
 * The conformance suite of the cluster coordination interfaces (LeaseStore, Membership),
 * exported so that every backend (SQLite on one node, NATS KV on a cluster) runs the same tests:
 * call `coordinationSuite(name, make)` from a test file with a factory that returns a fresh,
 * empty Coordination, and `open` (when the backend can) a second client of the same one.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Coordination, NodeRecord } from "./interface.ts";

/** A fresh, empty coordination backend; `second()` opens another client of the same one (another node or process). */
export type MakeCoordination = () => Promise<{ first: Coordination; second: () => Promise<Coordination> }>;

/** Options of coordinationSuite. */
export interface CoordinationSuiteOptions {
  /** Skip the whole suite, with the reason shown in the test report (a backend's server is not running). */
  skip?: string | false;
}

async function withPair(make: MakeCoordination, fn: (a: Coordination, b: Coordination) => Promise<void>): Promise<void> {
  const { first, second } = await make();
  const other = await second();
  try {
    await fn(first, other);
  } finally {
    await other.close();
    await first.close();
  }
}

function node(id: string, lastSeen: number, versions: Record<string, string> = {}): NodeRecord {
  return { id, address: `127.0.0.1:${8000 + lastSeen}`, control: "127.0.0.1:9000", started: 1, lastSeen, versions };
}

/** Registers the LeaseStore and Membership conformance tests for one backend. */
export function coordinationSuite(name: string, make: MakeCoordination, opts: CoordinationSuiteOptions = {}): void {
  describe(`Coordination conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    test("a lease is exclusive until it expires; renewal keeps the epoch, a new owner bumps it", () =>
      withPair(make, async (a, b) => {
        assert.equal(await a.leases.get("sub:x"), null);
        const l1 = await a.leases.acquire("sub:x", "n1", 1000, 2000);
        assert.deepEqual(l1 && { ...l1 }, { name: "sub:x", owner: "n1", until: 2000, epoch: 1 });
        assert.equal(await b.leases.acquire("sub:x", "n2", 1500, 2500), null, "held by n1, seen from another client");
        const renewed = await b.leases.acquire("sub:x", "n1", 1900, 3000);
        assert.equal(renewed?.until, 3000);
        assert.equal(renewed?.epoch, 1, "a renewal keeps the epoch");
        assert.equal(await a.leases.acquire("sub:x", "n2", 2999, 4000), null);
        const taken = await a.leases.acquire("sub:x", "n2", 3000, 4000);
        assert.equal(taken?.owner, "n2");
        assert.equal(taken?.epoch, 2, "expired at 3000: n2 takes it with a new epoch");
        const back = await b.leases.acquire("sub:x", "n1", 4000, 5000);
        assert.equal(back?.epoch, 3, "the old owner coming back is a new owner");
        assert.deepEqual({ ...(await b.leases.get("sub:x"))! }, { name: "sub:x", owner: "n1", until: 5000, epoch: 3 });
        assert.equal(await a.leases.get("sub:y"), null, "leases are per name");
        assert.equal((await a.leases.acquire("sub:y", "n2", 4000, 5000))?.owner, "n2");
      }));

    test("release frees a lease at once, only for its owner", () =>
      withPair(make, async (a, b) => {
        await a.leases.acquire("cron", "n1", 0, 10_000);
        await b.leases.release("cron", "n2");
        assert.equal(await b.leases.acquire("cron", "n2", 10, 10_010), null, "n2 could not release n1's lease");
        await b.leases.release("cron", "n1");
        const l = await b.leases.acquire("cron", "n2", 10, 10_010);
        assert.equal(l?.owner, "n2");
        assert.equal(l?.epoch, 2, "a release does not reset the epoch");
        await a.leases.release("never-taken", "n1");
      }));

    test("owners racing for a free lease: exactly one wins", () =>
      withPair(make, async (a, b) => {
        for (let round = 0; round < 5; round++) {
          const name = `race:${round}`;
          const owners = ["n1", "n2", "n3", "n4", "n5", "n6"];
          const got = await Promise.all(owners.map((o, i) => (i % 2 === 0 ? a : b).leases.acquire(name, o, 100, 200)));
          const winners = got.filter((l) => l !== null);
          assert.equal(winners.length, 1, `round ${round}: ${winners.map((w) => w.owner).join(", ")}`);
          assert.equal((await a.leases.get(name))?.owner, winners[0]!.owner);
        }
      }));

    test("membership: heartbeats replace a node's record; nodes() lists the recent ones by id; leave removes", () =>
      withPair(make, async (a, b) => {
        assert.deepEqual(await a.membership.nodes(0), []);
        await a.membership.heartbeat(node("n2", 100, { orders: "v1" }));
        await b.membership.heartbeat(node("n1", 100));
        await b.membership.heartbeat(node("n1", 300, { orders: "v2" }));
        assert.deepEqual(
          (await a.membership.nodes(0)).map((n) => ({ ...n, versions: { ...n.versions } })),
          [node("n1", 300, { orders: "v2" }), node("n2", 100, { orders: "v1" })],
        );
        assert.deepEqual(
          (await b.membership.nodes(200)).map((n) => n.id),
          ["n1"],
          "a node not seen since is left out",
        );
        await a.membership.leave("n1");
        await a.membership.leave("n9");
        assert.deepEqual(
          (await b.membership.nodes(0)).map((n) => n.id),
          ["n2"],
        );
      }));
  });
}
