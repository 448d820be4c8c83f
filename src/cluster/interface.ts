/**
 * What a cluster of nodes coordinates through, beside its event store and registry: leases (who
 * delivers a subscription, who runs cron) and membership (which nodes are alive and what they
 * serve). Every call returns a Promise: on a cluster they are answered by a server (NATS KV).
 * SqliteCoordination is the embedded implementation (the processes of one node share its file);
 * every implementation runs the suites in conformance.ts.
 *
 * Time is the caller's (epoch ms passed in), so tests move it and every node judges expiry by
 * the same rule; a cluster's nodes need clocks within a fraction of the lease length.
 *
 * Guarantees:
 * - **A lease is exclusive while valid.** Between a successful acquire() and `until`, no other
 *   owner's acquire() of that name succeeds, even when both race on different nodes.
 * - **Epochs fence.** A lease's `epoch` grows every time its owner changes; an owner that lost
 *   its lease and got it back has a new epoch, so writes made under the old one can be refused.
 * - **Writes are durable when their promise resolves** (a restarted node sees them).
 */

/** A held lease. */
export interface Lease {
  readonly name: string;
  readonly owner: string;
  /** Epoch ms until which it is held. */
  readonly until: number;
  /** Grows with every change of owner (a fencing token). */
  readonly epoch: number;
}

/** Leases on named resources. */
export interface LeaseStore {
  /**
   * Takes `name` for `owner` until `until` when it is free, expired at `now`, or already
   * `owner`'s (a renewal keeps the epoch); null when another owner holds it at `now`.
   */
  acquire(name: string, owner: string, now: number, until: number): Promise<Lease | null>;
  /** Gives `name` up when `owner` holds it (anyone may take it at once); otherwise nothing. */
  release(name: string, owner: string): Promise<void>;
  /** The lease of `name` as stored (possibly expired), or null when none was ever taken or it was released. */
  get(name: string): Promise<Lease | null>;
}

/** A node as membership records it. */
export interface NodeRecord {
  readonly id: string;
  /** The gateway's address (host:port). */
  readonly address: string;
  /** The control API's address (host:port). */
  readonly control: string;
  /** Epoch ms the node started. */
  readonly started: number;
  /** Epoch ms of its last heartbeat. */
  readonly lastSeen: number;
  /** The version each service runs on it. */
  readonly versions: Readonly<Record<string, string>>;
}

/** Which nodes are alive. */
export interface Membership {
  /** Records `node` as alive at `node.lastSeen` (a heartbeat replaces the node's record). */
  heartbeat(node: NodeRecord): Promise<void>;
  /** Nodes whose last heartbeat is at or after `since`, by id. */
  nodes(since: number): Promise<NodeRecord[]>;
  /** Removes a node's record (a graceful stop); nothing when there is none. */
  leave(id: string): Promise<void>;
}

/** Leases and membership from one backend, opened and closed together. */
export interface Coordination {
  readonly leases: LeaseStore;
  readonly membership: Membership;
  /** Closes the file or the connection. */
  close(): Promise<void>;
}
