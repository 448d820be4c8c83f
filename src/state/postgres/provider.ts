/**
 * State on a PostgreSQL server, for a cluster of nodes: KV namespaces in one table of the
 * cluster's schema. The driver (`pg`) is imported on the first KV call, so a node that never
 * chooses this backend never loads it. SQL bindings keep running on the provider given as `sql`
 * (the embedded one) until `{ sql: { engine: postgres } }` exists.
 */
import type { Pool } from "pg";
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

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

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
    if (!SCHEMA_NAME.test(opts.schema)) {
      throw new StratusError(
        "STRATUS_E_CLI_USAGE",
        `the PostgreSQL schema name ${JSON.stringify(opts.schema)} is not valid; use lowercase letters, digits and _ (at most 63), starting with a letter or _`,
      );
    }
    this.#opts = opts;
    this.#ctx = { ready: () => this.#ready(), table: `"${opts.schema}"."kv"`, clock: opts.clock ?? Date.now };
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

  async #connect(): Promise<Pool> {
    const { default: pg } = await import("pg");
    const pool = new pg.Pool({
      connectionString: this.#opts.url,
      max: this.#opts.maxConnections ?? 8,
      connectionTimeoutMillis: this.#opts.connectTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection that breaks (server restart) is dropped by the pool; the next call
    // reports any lasting failure. Without a listener the error would end the process.
    pool.on("error", () => undefined);
    const s = `"${this.#opts.schema}"`;
    try {
      const c = await pool.connect();
      try {
        // Nodes of a cluster start together: one of them creates the schema and table, the
        // others wait on the lock and find them.
        await c.query("BEGIN");
        await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`stratus-kv:${this.#opts.schema}`]);
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
        await c.query(
          `CREATE TABLE IF NOT EXISTS ${s}.kv (
             service text NOT NULL, binding text NOT NULL, key bytea NOT NULL,
             value bytea NOT NULL, expires bigint, metadata text,
             PRIMARY KEY (service, binding, key))`,
        );
        await c.query("COMMIT");
      } catch (err) {
        await c.query("ROLLBACK").catch(() => undefined);
        throw err;
      } finally {
        c.release();
      }
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw err;
    }
    return pool;
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
