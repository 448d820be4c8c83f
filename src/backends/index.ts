/**
 * The one place that chooses where state, events and the registry live. The choice is made once,
 * from configuration, as a plain description (`Backends`): the supervisor sends it to every
 * worker process as is (never a bare file path), and each process opens its stores from it with
 * the `open*` functions here. Only the embedded (SQLite) backends exist today; a networked one
 * adds a `kind` to its description and a case to its opener, and loads its driver only when
 * chosen.
 */
import { join } from "node:path";
import { z } from "zod";
import { StratusError } from "../errors/index.ts";
import { SqliteEventStore, type EventStore } from "../events/index.ts";
import { SqliteRegistry, type Registry } from "../registry/index.ts";
import { SqliteStateProvider, type StateProvider } from "../state/index.ts";

/** Where KV namespaces and SQL databases live. */
export type StateBackend = {
  /** SQLite files under `dir`, one per (service, binding); `dir` null keeps them in memory. */
  readonly kind: "sqlite";
  readonly dir: string | null;
};

/** Where the event log, subscriptions, retries, dead letters, async invocations and cron bookkeeping live. */
export type EventsBackend = {
  /** One SQLite file shared by the processes of a node; `file` null keeps it in this process's memory. */
  readonly kind: "sqlite";
  readonly file: string | null;
};

/** Where versions, tokens, secrets and the audit log live (a production node only). */
export type RegistryBackend = {
  /** One SQLite file in the node's data directory. */
  readonly kind: "sqlite";
  readonly file: string;
};

/** The backends of a node or a dev stack: plain data, sent to worker processes as it is. */
export interface Backends {
  readonly state: StateBackend;
  readonly events: EventsBackend;
  /** Null where there is no registry (`stratus dev`, `stratus/testing`). */
  readonly registry: RegistryBackend | null;
}

/** What the backends are chosen from. */
export interface BackendOptions {
  /** The data directory; null keeps everything in memory (tests, `stratus check`). */
  readonly dataDir: string | null;
}

/**
 * Chooses the backends from configuration. Today every choice is embedded: with a data directory,
 * `state/` (SQLite per service and binding), `events.sqlite` and `registry.sqlite` in it.
 */
export function chooseBackends(opts: BackendOptions): Backends {
  const dir = opts.dataDir;
  if (dir === null) return { state: { kind: "sqlite", dir: null }, events: { kind: "sqlite", file: null }, registry: null };
  return {
    state: { kind: "sqlite", dir: join(dir, "state") },
    events: { kind: "sqlite", file: join(dir, "events.sqlite") },
    registry: { kind: "sqlite", file: join(dir, "registry.sqlite") },
  };
}

/** Opens the state provider `b` describes. `clock` moves KV expiry (tests). */
export function openStateProvider(b: StateBackend, opts: { clock?: () => number } = {}): StateProvider {
  switch (b.kind) {
    case "sqlite":
      return new SqliteStateProvider({ dir: b.dir, ...(opts.clock ? { clock: opts.clock } : {}) });
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
  }
}

const backendsSchema = z.strictObject({
  state: z.strictObject({ kind: z.literal("sqlite"), dir: z.string().min(1).nullable() }),
  events: z.strictObject({ kind: z.literal("sqlite"), file: z.string().min(1).nullable() }),
  registry: z.strictObject({ kind: z.literal("sqlite"), file: z.string().min(1) }).nullable(),
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
