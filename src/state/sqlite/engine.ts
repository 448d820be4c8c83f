/**
 * The synchronous core of a service's SQL database: one SQLite connection under the SQL policy
 * (policy.ts) and the storage quota, with D1-shaped results. It runs where it can be stopped: in
 * an executor process (executor-main.ts) for real services, or inline for in-memory test stacks.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StratusError } from "../../errors/index.ts";
import type { SqlMode, SqlResult, SqlValue } from "../interface.ts";
import { installSqlPolicy } from "./policy.ts";
import { privateDbFile } from "./files.ts";
import { quotaError, quotaStopped, type Quota } from "./quota.ts";

const CACHE = 128;
/** Largest result one call returns (an estimate of its size): it is copied into the isolate. */
export const MAX_RESULT_BYTES = 64 * 1024 * 1024;
const SQLITE_FULL = 13;

/** A raw-mode result. */
export type SqlRaw = { columns: string[]; rows: SqlValue[][] };

/** SqliteSqlEngine: statements are prepared once and cached (LRU of 128). */
export class SqliteSqlEngine {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();
  readonly #policy: { trusted<T>(fn: () => T): T };
  readonly #pageSize: number;
  readonly #path: string;
  /** Bytes this database may occupy right now (the service's quota less its other files), or null. */
  #allowance: number | null = null;
  #quota: Quota | null = null;

  constructor(path: string) {
    privateDbFile(path);
    this.#path = path;
    this.#db = new DatabaseSync(path, { timeout: 5000 });
    // temp_store=MEMORY: temporary tables and sorts never become files outside the quota.
    this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=4194304; PRAGMA foreign_keys=ON; PRAGMA temp_store=MEMORY;");
    privateDbFile(path);
    this.#pageSize = Number((this.#db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
    this.#policy = installSqlPolicy(this.#db);
  }

  /**
   * Sets how many bytes the file may grow to (null: no quota), as the service's quota less what
   * its other files hold. Applies from the next statement.
   */
  setAllowance(bytes: number | null, quota: Quota | null): void {
    this.#allowance = bytes;
    this.#quota = quota;
    const pages = bytes === null ? 0xfffffffe : Math.max(1, Math.floor(bytes / this.#pageSize));
    // SQLite never lowers max_page_count below the current size: a lowered quota stops growth only.
    this.#policy.trusted(() => this.#db.exec(`PRAGMA max_page_count = ${pages}`));
  }

  /**
   * Caps the heap of every SQLite connection in this process (SQLite's limit is process-wide):
   * call it only in a process of its own, the executor.
   */
  setHeapLimit(bytes: number): void {
    this.#policy.trusted(() => this.#db.exec(`PRAGMA hard_heap_limit = ${Math.max(0, Math.floor(bytes))}`));
  }

  #prepare(sql: string): StatementSync {
    let stmt = this.#cache.get(sql);
    if (stmt) {
      this.#cache.delete(sql);
      this.#cache.set(sql, stmt);
      return stmt;
    }
    stmt = this.#db.prepare(sql);
    this.#cache.set(sql, stmt);
    if (this.#cache.size > CACHE) this.#cache.delete(this.#cache.keys().next().value!);
    return stmt;
  }

  #one(sql: string, params: readonly SqlValue[], mode: SqlMode): SqlResult | SqlRaw {
    const start = performance.now();
    const stmt = this.#prepare(sql);
    const columns = stmt.columns().map((c) => c.name);
    if (mode === "raw") {
      stmt.setReturnArrays(true);
      try {
        return { columns, rows: columns.length > 0 ? (this.#rows(stmt, params, sql) as unknown as SqlValue[][]) : (stmt.run(...params), []) };
      } finally {
        stmt.setReturnArrays(false);
      }
    }
    if (columns.length > 0) {
      const results = this.#rows(stmt, params, sql) as Record<string, SqlValue>[];
      return { success: true, results, meta: { duration: performance.now() - start, changes: 0, last_row_id: 0, rows_read: results.length, rows_written: 0 } };
    }
    const r = stmt.run(...params);
    const changes = Number(r.changes);
    return {
      success: true,
      results: [],
      meta: { duration: performance.now() - start, changes, last_row_id: Number(r.lastInsertRowid), rows_read: 0, rows_written: changes },
    };
  }

  /** All rows, refusing a result too large to hand to a function (it would be copied twice more). */
  #rows(stmt: StatementSync, params: readonly SqlValue[], sql: string): unknown[] {
    const rows: unknown[] = [];
    let bytes = 0;
    for (const row of stmt.iterate(...params)) {
      for (const v of Object.values(row as object) as SqlValue[]) {
        bytes += 16 + (typeof v === "string" ? v.length * 2 : v instanceof Uint8Array ? v.byteLength : 0);
      }
      if (bytes > MAX_RESULT_BYTES) {
        throw new StratusError(
          "STRATUS_E_SQL",
          `SQL: the result of "${sql.length > 80 ? `${sql.slice(0, 77)}...` : sql}" is over ${MAX_RESULT_BYTES / 1024 / 1024} MiB after ${rows.length} rows; read it in pages (LIMIT and a WHERE on the last key)`,
        );
      }
      rows.push(row);
    }
    return rows;
  }

  /**
   * A transaction must not outlive the call that opened it: the connection serves every request
   * of the service in this process, and an open write transaction would lock out its other
   * processes. batch() is how a function asks for a transaction.
   */
  #closeStrayTransaction(what: string): void {
    if (!this.#db.isTransaction) return;
    this.#db.exec("ROLLBACK");
    throw new StratusError(
      "STRATUS_E_SQL",
      `SQL: ${what} left a transaction open (BEGIN without COMMIT); it was rolled back. Use batch() to run statements in one transaction`,
    );
  }

  /** Runs one statement. */
  query(sql: string, params: readonly SqlValue[], mode: SqlMode): SqlResult | SqlRaw {
    let out: SqlResult | SqlRaw;
    try {
      out = this.#one(sql, params, mode);
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw this.#error(err, sql);
    }
    this.#closeStrayTransaction("the statement");
    return out;
  }

  /** Runs statements in one transaction; all or nothing. */
  batch(statements: readonly (readonly [string, readonly SqlValue[]])[]): SqlResult[] {
    const out: SqlResult[] = [];
    if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
    this.#db.exec("BEGIN IMMEDIATE");
    let i = 0;
    try {
      for (; i < statements.length; i++) {
        const [sql, params] = statements[i]!;
        out.push(this.#one(sql, params, "all") as SqlResult);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      const e = this.#error(err, statements[i]?.[0] ?? "");
      if (e.code !== "STRATUS_E_SQL") throw e;
      throw new StratusError("STRATUS_E_SQL", `batch statement ${i + 1} of ${statements.length} failed, nothing was written: ${e.message}`);
    }
    return out;
  }

  /** Runs one or more statements separated by semicolons, without parameters. */
  exec(sql: string): { count: number; duration: number } {
    const start = performance.now();
    try {
      this.#db.exec(sql);
    } catch (err) {
      if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
      throw this.#error(err, sql);
    }
    this.#closeStrayTransaction("exec()");
    return { count: sql.split(";").filter((s) => s.trim() !== "").length, duration: performance.now() - start };
  }

  /** Closes the connection. */
  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }

  #error(err: unknown, sql: string): StratusError {
    if (err instanceof StratusError) return err;
    if ((err as { errcode?: number }).errcode === SQLITE_FULL && this.#allowance !== null && this.#quota !== null) {
      const pages = this.#policy.trusted(() => this.#db.prepare("PRAGMA page_count").get() as { page_count: number });
      if (quotaStopped(this.#path, this.#allowance, Number(pages.page_count) * this.#pageSize)) return quotaError(this.#quota, "SQL");
    }
    return sqlError(err, sql);
  }
}

/** Wraps a driver error as STRATUS_E_SQL naming the statement. */
export function sqlError(err: unknown, sql: string): StratusError {
  if (err instanceof StratusError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const shown = sql.length > 120 ? `${sql.slice(0, 117)}...` : sql;
  return new StratusError("STRATUS_E_SQL", `SQL error: ${msg} (in: ${shown})`, { cause: err });
}
