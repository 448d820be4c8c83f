/**
 * The one place that chooses where state, events and the registry live. The choice is made once,
 * from configuration, as a plain description (`Backends`): the supervisor sends it to every
 * worker process as is (never a bare file path), and each process opens its stores from it with
 * the `open*` functions here. Embedded (SQLite) by default; with a cluster's servers, KV and
 * the registry go to PostgreSQL and leases and membership to NATS KV (the event store stays
 * embedded until its JetStream backend exists). A networked backend's driver is loaded only when
 * its store is first used.
 */
import { join } from "node:path";
import { z } from "zod";
import { StratusError } from "../errors/index.ts";
import { NatsCoordination, SqliteCoordination, type Coordination } from "../cluster/index.ts";
import { SqliteEventStore, type EventStore } from "../events/index.ts";
import { PostgresRegistry, SqliteRegistry, type Registry } from "../registry/index.ts";
import { PostgresStateProvider, SqliteStateProvider, type StateProvider } from "../state/index.ts";

/** Where KV namespaces and SQL databases live. */
export type StateBackend =
  | {
      /** SQLite files under `dir`, one per (service, binding); `dir` null keeps them in memory. */
      readonly kind: "sqlite";
      readonly dir: string | null;
    }
  | {
      /** KV in PostgreSQL (`url`, the cluster's `schema`); SQL bindings stay in SQLite files under `sqlDir`. */
      readonly kind: "postgres";
      readonly url: string;
      readonly schema: string;
      readonly sqlDir: string | null;
    };

/** Where the event log, subscriptions, retries, dead letters, async invocations and cron bookkeeping live. */
export type EventsBackend = {
  /** One SQLite file shared by the processes of a node; `file` null keeps it in this process's memory. */
  readonly kind: "sqlite";
  readonly file: string | null;
};

/** Where versions, tokens, secrets and the audit log live (a production node only). */
export type RegistryBackend =
  | {
      /** One SQLite file in the node's data directory. */
      readonly kind: "sqlite";
      readonly file: string;
    }
  | {
      /** Tables of the cluster's schema in PostgreSQL, shared by every node. */
      readonly kind: "postgres";
      readonly url: string;
      readonly schema: string;
    };

/** Where leases and membership live. */
export type CoordinationBackend =
  | {
      /** One SQLite file shared by the processes of a node; `file` null keeps it in memory. */
      readonly kind: "sqlite";
      readonly file: string | null;
    }
  | {
      /** A NATS JetStream KV bucket of the cluster. */
      readonly kind: "nats";
      readonly url: string;
      readonly cluster: string;
    };

/** The backends of a node or a dev stack: plain data, sent to worker processes as it is. */
export interface Backends {
  readonly state: StateBackend;
  readonly events: EventsBackend;
  /** Null where there is no registry (`stratus dev`, `stratus/testing`). */
  readonly registry: RegistryBackend | null;
  readonly coordination: CoordinationBackend;
}

/** What the backends are chosen from. */
export interface BackendOptions {
  /** The data directory; null keeps everything in memory (tests, `stratus check`). */
  readonly dataDir: string | null;
  /**
   * A cluster's servers (`stratus start --cluster NAME --nats URL --postgres URL`): all three or
   * none. `cluster` keeps clusters apart on shared servers: lowercase letters, digits and `_`.
   */
  readonly cluster?: { readonly name: string; readonly postgres: string; readonly nats: string };
}

const CLUSTER_NAME = /^[a-z0-9][a-z0-9_]{0,47}$/;

/**
 * Chooses the backends from configuration. Today every choice is embedded: with a data directory,
 * `state/` (SQLite per service and binding), `events.sqlite` and `registry.sqlite` in it.
 */
export function chooseBackends(opts: BackendOptions): Backends {
  const dir = opts.dataDir;
  const c = opts.cluster;
  if (c) {
    if (!CLUSTER_NAME.test(c.name)) {
      throw new StratusError(
        "STRATUS_E_CLI_USAGE",
        `--cluster ${JSON.stringify(c.name)} is not a valid cluster name; use lowercase letters, digits and _ (at most 48), starting with a letter or digit`,
      );
    }
    const schema = `stratus_${c.name}`;
    return {
      state: { kind: "postgres", url: c.postgres, schema, sqlDir: dir === null ? null : join(dir, "state") },
      // The event store stays on the node until its JetStream backend exists.
      events: { kind: "sqlite", file: dir === null ? null : join(dir, "events.sqlite") },
      registry: { kind: "postgres", url: c.postgres, schema },
      coordination: { kind: "nats", url: c.nats, cluster: c.name },
    };
  }
  if (dir === null) {
    return { state: { kind: "sqlite", dir: null }, events: { kind: "sqlite", file: null }, registry: null, coordination: { kind: "sqlite", file: null } };
  }
  return {
    state: { kind: "sqlite", dir: join(dir, "state") },
    events: { kind: "sqlite", file: join(dir, "events.sqlite") },
    registry: { kind: "sqlite", file: join(dir, "registry.sqlite") },
    coordination: { kind: "sqlite", file: join(dir, "cluster.sqlite") },
  };
}

/** Opens the state provider `b` describes. `clock` moves KV expiry (tests). */
export function openStateProvider(b: StateBackend, opts: { clock?: () => number } = {}): StateProvider {
  const clock = opts.clock ? { clock: opts.clock } : {};
  switch (b.kind) {
    case "sqlite":
      return new SqliteStateProvider({ dir: b.dir, ...clock });
    case "postgres":
      return new PostgresStateProvider({ url: b.url, schema: b.schema, sql: new SqliteStateProvider({ dir: b.sqlDir, ...clock }), ...clock });
  }
}

/** Opens the event store `b` describes. */
export function openEventStore(b: EventsBackend): EventStore {
  switch (b.kind) {
    case "sqlite":
      return new SqliteEventStore({ file: b.file ?? ":memory:" });
  }
}

/** Opens the registry `b` describes. */
export function openRegistry(b: RegistryBackend): Registry {
  switch (b.kind) {
    case "sqlite":
      return new SqliteRegistry(b.file);
    case "postgres":
      return new PostgresRegistry({ url: b.url, schema: b.schema });
  }
}

/** Opens the coordination backend `b` describes (a NATS one connects first). */
export async function openCoordination(b: CoordinationBackend): Promise<Coordination> {
  switch (b.kind) {
    case "sqlite":
      return new SqliteCoordination(b.file ?? ":memory:");
    case "nats":
      return NatsCoordination.open({ url: b.url, cluster: b.cluster });
  }
}

const path = z.string().min(1);
const backendsSchema = z.strictObject({
  state: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("sqlite"), dir: path.nullable() }),
    z.strictObject({ kind: z.literal("postgres"), url: z.string().min(1), schema: z.string().min(1), sqlDir: path.nullable() }),
  ]),
  events: z.strictObject({ kind: z.literal("sqlite"), file: path.nullable() }),
  registry: z
    .discriminatedUnion("kind", [
      z.strictObject({ kind: z.literal("sqlite"), file: path }),
      z.strictObject({ kind: z.literal("postgres"), url: z.string().min(1), schema: z.string().min(1) }),
    ])
    .nullable(),
  coordination: z.discriminatedUnion("kind", [
    z.strictObject({ kind: z.literal("sqlite"), file: path.nullable() }),
    z.strictObject({ kind: z.literal("nats"), url: z.string().min(1), cluster: z.string().min(1) }),
  ]),
});

/** The description as text, for a worker's environment (STRATUS_BACKENDS). */
export function encodeBackends(b: Backends): string {
  return JSON.stringify(b);
}

/** Reads a description written by encodeBackends, checked against its schema. */
export function decodeBackends(text: string): Backends {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new StratusError("STRATUS_E_INTERNAL", `the backends description is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const parsed = backendsSchema.safeParse(raw);
  if (!parsed.success) {
    throw new StratusError(
      "STRATUS_E_INTERNAL",
      `the backends description is not valid: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
    );
  }
  return Object.freeze(parsed.data);
}
