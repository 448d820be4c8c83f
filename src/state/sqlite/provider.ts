/** The embedded state backend: one SQLite file per (service, binding), under the data directory. */
import { join } from "node:path";
import type { KvStore, SqlDatabase, SqlMode, SqlResult, SqlValue, StateLimits, StateProvider } from "../interface.ts";
import { SqliteSqlEngine, type SqlRaw } from "./engine.ts";
import { SqlExecutor } from "./executor.ts";
import { privateDir } from "./files.ts";
import { SqliteKvStore, type Clock } from "./kv.ts";
import { allowanceFor, DEFAULT_STORAGE_BYTES, type Quota } from "./quota.ts";

/** Options of SqliteStateProvider. */
export interface SqliteStateOptions {
  /** Directory for the files; null keeps everything in memory (tests). */
  dir: string | null;
  /** Clock for KV expiry (default Date.now). */
  clock?: Clock;
  /**
   * Where SQL runs: "process" (default with a directory) runs each service's SQL in an executor
   * process that is killed when a statement outlives limits.timeout; "inline" runs it on the
   * calling thread with no timeout (the default, and the only choice, for in-memory state: an
   * in-memory database lives in the process that holds it).
   */
  sql?: "process" | "inline";
}

/** The limits a service gets when none were passed (the stack file's defaults). */
const DEFAULT_LIMITS: StateLimits = { timeoutMs: 10_000, storageBytes: DEFAULT_STORAGE_BYTES, memoryMb: 128 };
/** The SQLite heap of an executor: generous beside the isolate's heap, and never unbounded. */
const MIN_SQL_HEAP_MB = 64;

/** SqliteStateProvider: files at <dir>/<service>/<binding>.kv.sqlite and .sql.sqlite. */
export class SqliteStateProvider implements StateProvider {
  readonly #opts: SqliteStateOptions;
  readonly #kv = new Map<string, SqliteKvStore>();
  readonly #sql = new Map<string, SqlDatabase>();
  readonly #executors = new Map<string, SqlExecutor>();
  readonly #limits = new Map<string, StateLimits>();

  constructor(opts: SqliteStateOptions) {
    this.#opts = opts;
    if (opts.dir !== null) privateDir(opts.dir);
  }

  #path(service: string, binding: string, kind: string): string {
    if (this.#opts.dir === null) return ":memory:";
    const dir = join(this.#opts.dir, service);
    privateDir(dir);
    return join(dir, `${binding}.${kind}.sqlite`);
  }

  #limitsOf(service: string, limits: StateLimits | undefined): StateLimits {
    if (limits) this.#limits.set(service, limits);
    return this.#limits.get(service) ?? DEFAULT_LIMITS;
  }

  #quota(service: string): Quota | null {
    if (this.#opts.dir === null) return null;
    return { service, bytes: (this.#limits.get(service) ?? DEFAULT_LIMITS).storageBytes };
  }

  kv(service: string, binding: string, limits?: StateLimits): KvStore {
    this.#limitsOf(service, limits);
    const id = `${service}/${binding}`;
    let s = this.#kv.get(id);
    if (!s) {
      s = new SqliteKvStore(this.#path(service, binding, "kv"), this.#opts.clock, () => this.#quota(service));
      this.#kv.set(id, s);
    }
    return s;
  }

  sql(service: string, binding: string, limits?: StateLimits): SqlDatabase {
    this.#limitsOf(service, limits);
    const id = `${service}/${binding}`;
    let s = this.#sql.get(id);
    if (!s) {
      const file = this.#path(service, binding, "sql");
      const inline = file === ":memory:" || this.#opts.sql === "inline";
      s = inline
        ? new InlineSqlDatabase(file, () => this.#quota(service))
        : new ProcessSqlDatabase(file, this.#executor(service), () => this.#execLimits(service));
      this.#sql.set(id, s);
    }
    return s;
  }

  #executor(service: string): SqlExecutor {
    let e = this.#executors.get(service);
    if (!e) {
      e = new SqlExecutor(service, () => Math.max(MIN_SQL_HEAP_MB, (this.#limits.get(service) ?? DEFAULT_LIMITS).memoryMb ?? 0) * 1024 * 1024);
      this.#executors.set(service, e);
    }
    return e;
  }

  #execLimits(service: string): { timeoutMs: number; quota: Quota | null } {
    return { timeoutMs: (this.#limits.get(service) ?? DEFAULT_LIMITS).timeoutMs, quota: this.#quota(service) };
  }

  async close(): Promise<void> {
    for (const s of this.#kv.values()) await s.close();
    for (const s of this.#sql.values()) await s.close();
    for (const e of this.#executors.values()) e.close();
    this.#kv.clear();
    this.#sql.clear();
    this.#executors.clear();
  }
}

/** A SQL database run on the calling thread (in-memory test stacks): no timeout applies. */
class InlineSqlDatabase implements SqlDatabase {
  readonly #engine: SqliteSqlEngine;
  readonly #file: string;
  readonly #quota: () => Quota | null;

  constructor(file: string, quota: () => Quota | null) {
    this.#engine = new SqliteSqlEngine(file);
    this.#file = file;
    this.#quota = quota;
  }

  #allow(): SqliteSqlEngine {
    const q = this.#quota();
    this.#engine.setAllowance(q ? allowanceFor(this.#file, q) : null, q);
    return this.#engine;
  }

  async query(sql: string, params: readonly SqlValue[], mode: SqlMode): Promise<SqlResult | SqlRaw> {
    return this.#allow().query(sql, params, mode);
  }

  async batch(statements: readonly (readonly [string, readonly SqlValue[]])[]): Promise<SqlResult[]> {
    return this.#allow().batch(statements);
  }

  async exec(sql: string): Promise<{ count: number; duration: number }> {
    return this.#allow().exec(sql);
  }

  async close(): Promise<void> {
    this.#engine.close();
  }
}

/** A SQL database run by the service's executor process (executor.ts), under limits.timeout. */
class ProcessSqlDatabase implements SqlDatabase {
  readonly #file: string;
  readonly #executor: SqlExecutor;
  readonly #limits: () => { timeoutMs: number; quota: Quota | null };

  constructor(file: string, executor: SqlExecutor, limits: () => { timeoutMs: number; quota: Quota | null }) {
    this.#file = file;
    this.#executor = executor;
    this.#limits = limits;
  }

  query(sql: string, params: readonly SqlValue[], mode: SqlMode): Promise<SqlResult | SqlRaw> {
    return this.#executor.call(this.#file, "query", [sql, params, mode], this.#limits());
  }

  batch(statements: readonly (readonly [string, readonly SqlValue[]])[]): Promise<SqlResult[]> {
    return this.#executor.call(this.#file, "batch", [statements], this.#limits());
  }

  exec(sql: string): Promise<{ count: number; duration: number }> {
    return this.#executor.call(this.#file, "exec", [sql], this.#limits());
  }

  async close(): Promise<void> {
    // The executor (shared by the service's databases) is closed by the provider.
  }
}
