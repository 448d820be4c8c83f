/**
 * Coordination on a cluster: leases and membership in a NATS JetStream KV bucket per cluster
 * (`stratus-<cluster>-coord`). A lease is one key whose value says who holds it until when; it
 * changes hands only by compare-and-set on the key's revision, so two nodes racing for it cannot
 * both win. The NATS client is imported by open(), so a node that never chooses this backend
 * never loads it.
 */
import type { KV } from "@nats-io/kv";
import type { NatsConnection } from "@nats-io/transport-node";
import { StratusError } from "../errors/index.ts";
import type { Coordination, Lease, LeaseStore, Membership, NodeRecord } from "./interface.ts";

/** Options of NatsCoordination.open. */
export interface NatsCoordinationOptions {
  /** The server, e.g. nats://127.0.0.1:4222. */
  url: string;
  /** The cluster's name: keeps clusters apart on one server (letters, digits, `_` and `-`). */
  cluster: string;
  /** Longest wait for the connection, in ms (default 10000). */
  connectTimeoutMs?: number;
}

const CLUSTER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;
/** Compare-and-set attempts before a busy lease is reported as held by another. */
const CAS_TRIES = 16;

type Stored = { owner: string | null; until: number; epoch: number };

const enc = new TextEncoder();
const dec = new TextDecoder();

/** KV keys allow only [-/_=.a-zA-Z0-9]: names are stored base64url-encoded under a prefix. */
const keyOf = (kind: "lease" | "node", name: string): string => `${kind}.${Buffer.from(name, "utf8").toString("base64url") || "_"}`;

function clusterError(what: string, err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  return new StratusError("STRATUS_E_CLUSTER", `cluster ${what} failed on NATS: ${err instanceof Error ? err.message : String(err)}; retry`, { cause: err });
}

/** NatsCoordination. */
export class NatsCoordination implements Coordination {
  readonly #nc: NatsConnection;
  readonly #kv: KV;
  readonly #isConflict: (err: unknown) => boolean;
  readonly leases: LeaseStore;
  readonly membership: Membership;

  private constructor(nc: NatsConnection, kv: KV, isConflict: (err: unknown) => boolean) {
    this.#nc = nc;
    this.#kv = kv;
    this.#isConflict = isConflict;
    this.leases = {
      acquire: (name, owner, now, until) => this.#acquire(name, owner, now, until).catch((err: unknown) => Promise.reject(clusterError("lease", err))),
      release: (name, owner) => this.#release(name, owner).catch((err: unknown) => Promise.reject(clusterError("lease release", err))),
      get: (name) => this.#get(name).catch((err: unknown) => Promise.reject(clusterError("lease read", err))),
    };
    this.membership = {
      heartbeat: (n) => this.#heartbeat(n).catch((err: unknown) => Promise.reject(clusterError("heartbeat", err))),
      nodes: (since) => this.#nodes(since).catch((err: unknown) => Promise.reject(clusterError("membership read", err))),
      leave: (id) => this.#leave(id).catch((err: unknown) => Promise.reject(clusterError("leave", err))),
    };
  }

  /** Connects and opens (creating when missing) the cluster's bucket. */
  static async open(opts: NatsCoordinationOptions): Promise<NatsCoordination> {
    if (!CLUSTER_NAME.test(opts.cluster)) {
      throw new StratusError(
        "STRATUS_E_CLI_USAGE",
        `the cluster name ${JSON.stringify(opts.cluster)} is not valid; use letters, digits, _ and - (at most 63), starting with a letter or digit`,
      );
    }
    const [{ connect }, { Kvm }, { JetStreamApiError, JetStreamApiCodes }] = await Promise.all([
      import("@nats-io/transport-node"),
      import("@nats-io/kv"),
      import("@nats-io/jetstream"),
    ]);
    let nc: NatsConnection;
    try {
      nc = await connect({ servers: opts.url, timeout: opts.connectTimeoutMs ?? 10_000, name: `stratus-${opts.cluster}` });
    } catch (err) {
      throw clusterError(`connect to ${opts.url}`, err);
    }
    try {
      // history 1: a lease is its latest value; file storage: a restarted server keeps them.
      const kv = await new Kvm(nc).create(`stratus-${opts.cluster}-coord`, { history: 1 });
      const isConflict = (err: unknown): boolean =>
        err instanceof JetStreamApiError &&
        (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
      return new NatsCoordination(nc, kv, isConflict);
    } catch (err) {
      await nc.close().catch(() => undefined);
      throw clusterError("bucket open", err);
    }
  }

  async #read(key: string): Promise<{ value: Stored; revision: number } | null> {
    const e = await this.#kv.get(key);
    if (!e || e.operation !== "PUT" || e.value.length === 0) return null;
    return { value: JSON.parse(dec.decode(e.value)) as Stored, revision: e.revision };
  }

  async #acquire(name: string, owner: string, now: number, until: number): Promise<Lease | null> {
    const key = keyOf("lease", name);
    for (let i = 0; i < CAS_TRIES; i++) {
      const cur = await this.#read(key);
      let next: Stored;
      try {
        if (!cur) {
          next = { owner, until, epoch: 1 };
          await this.#kv.create(key, enc.encode(JSON.stringify(next)));
        } else {
          const v = cur.value;
          if (v.owner !== null && v.owner !== owner && v.until > now) return null;
          next = { owner, until, epoch: v.owner === owner ? v.epoch : v.epoch + 1 };
          await this.#kv.update(key, enc.encode(JSON.stringify(next)), cur.revision);
        }
        return { name, owner, until, epoch: next.epoch };
      } catch (err) {
        // Another node wrote the key between the read and the write: read it again.
        if (!this.#isConflict(err)) throw err;
      }
    }
    return null;
  }

  async #release(name: string, owner: string): Promise<void> {
    const key = keyOf("lease", name);
    for (let i = 0; i < CAS_TRIES; i++) {
      const cur = await this.#read(key);
      if (!cur || cur.value.owner !== owner) return;
      try {
        // The epoch is kept: the next owner's is higher.
        await this.#kv.update(key, enc.encode(JSON.stringify({ owner: null, until: 0, epoch: cur.value.epoch } satisfies Stored)), cur.revision);
        return;
      } catch (err) {
        if (!this.#isConflict(err)) throw err;
      }
    }
  }

  async #get(name: string): Promise<Lease | null> {
    const cur = await this.#read(keyOf("lease", name));
    if (!cur || cur.value.owner === null) return null;
    return { name, owner: cur.value.owner, until: cur.value.until, epoch: cur.value.epoch };
  }

  async #heartbeat(n: NodeRecord): Promise<void> {
    await this.#kv.put(keyOf("node", n.id), enc.encode(JSON.stringify(n)));
  }

  async #nodes(since: number): Promise<NodeRecord[]> {
    const keys: string[] = [];
    for await (const k of await this.#kv.keys("node.>")) keys.push(k);
    const entries = await Promise.all(keys.map((k) => this.#kv.get(k)));
    const out: NodeRecord[] = [];
    for (const e of entries) {
      if (!e || e.operation !== "PUT" || e.value.length === 0) continue;
      const n = JSON.parse(dec.decode(e.value)) as NodeRecord;
      if (n.lastSeen >= since) out.push(n);
    }
    return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  async #leave(id: string): Promise<void> {
    await this.#kv.delete(keyOf("node", id));
  }

  async close(): Promise<void> {
    await this.#nc.drain().catch(() => this.#nc.close());
  }
}
