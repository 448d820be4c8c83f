/**
 * State on a PostgreSQL server, for a cluster of nodes: KV namespaces in one table of the
 * cluster's schema. The driver (`pg`) is imported on the first KV call, so a node that never
 * chooses this backend never loads it. SQL bindings keep running on the provider given as `sql`
 * (the embedded one) until `{ sql: { engine: postgres } }` exists.
 */
import type { Pool } from "pg";
import { openSchemaPool, quotedSchema } from "../../postgres/index.ts";
import { StratusError } from "../../errors/index.ts";
import type { KvStore, SqlDatabase, StateLimits, StateProvider } from "../interface.ts";
import { kvError, PostgresKvStore, type PgKvContext } from "./kv.ts";

/** Options of PostgresStateProvider. */
export interface PostgresStateOptions {
  /** The server, as a connection URL (postgres://user@host:port/database). */
  url: string;
  /**
   * The schema that keeps this cluster's state apart from other clusters' on the same server
   * (created when missing): lowercase letters, digits and `_`, starting with a letter or `_`.
   */
  schema: string;
  /** Where SQL bindings run meanwhile (the embedded provider). */
  sql: StateProvider;
  /** Milliseconds since the epoch, for KV expiry (default Date.now). */
  clock?: () => number;
  /** Most connections this process opens (default 8). */
  maxConnections?: number;
  /** Longest wait for a connection, in ms (default 10000): past it a call fails with STRATUS_E_KV_BACKEND. */
  connectTimeoutMs?: number;
}

/**
 * PostgresStateProvider. What it does not do yet: the per-service storage quota
 * (limits.storage) is not enforced on PostgreSQL KV.
 */
export class PostgresStateProvider implements StateProvider {
  readonly #opts: PostgresStateOptions;
  readonly #ctx: PgKvContext;
  readonly #kv = new Map<string, PostgresKvStore>();
  #pool: Promise<Pool> | null = null;
  #closed = false;

  constructor(opts: PostgresStateOptions) {
    const schema = quotedSchema(opts.schema);
    this.#opts = opts;
    this.#ctx = { ready: () => this.#ready(), table: `${schema}."kv"`, clock: opts.clock ?? Date.now };
  }

  /** The pool, connected and with the table in place; a failed attempt is retried by the next call. */
  #ready(): Promise<Pool> {
    if (this.#closed) return Promise.reject(new StratusError("STRATUS_E_KV_BACKEND", "KV: the PostgreSQL state provider is closed"));
    this.#pool ??= this.#connect().catch((err: unknown) => {
      this.#pool = null;
      throw kvError("connect", err);
    });
    return this.#pool;
  }

  #connect(): Promise<Pool> {
    const schema = quotedSchema(this.#opts.schema);
    return openSchemaPool({
      url: this.#opts.url,
      max: this.#opts.maxConnections ?? 8,
      connectTimeoutMs: this.#opts.connectTimeoutMs ?? 10_000,
      idleTimeoutMs: 30_000,
      schema,
      lock: `stratus-kv:${this.#opts.schema}`,
      tables: [
        `CREATE TABLE IF NOT EXISTS ${schema}.kv (
             service text NOT NULL, binding text NOT NULL, key bytea NOT NULL,
             value bytea NOT NULL, expires bigint, metadata text,
             PRIMARY KEY (service, binding, key))`,
      ],
    });
  }

  kv(service: string, binding: string, _limits?: StateLimits): KvStore {
    const id = `${service}/${binding}`;
    let s = this.#kv.get(id);
    if (!s) {
      s = new PostgresKvStore(this.#ctx, service, binding);
      this.#kv.set(id, s);
    }
    return s;
  }

  sql(service: string, binding: string, limits?: StateLimits): SqlDatabase {
    return this.#opts.sql.sql(service, binding, limits);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#kv.clear();
    const pool = this.#pool;
    this.#pool = null;
    if (pool) await pool.then((p) => p.end()).catch(() => undefined);
    await this.#opts.sql.close();
  }
}
