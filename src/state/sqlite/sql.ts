/** A service's SQL database: one SQLite file (or in memory), D1-shaped results. */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StratusError } from "../../errors/index.ts";
import type { SqlDatabase, SqlMode, SqlResult, SqlValue } from "../interface.ts";

const CACHE = 128;

/** SqliteSqlDatabase: statements are prepared once and cached (LRU of 128). */
export class SqliteSqlDatabase implements SqlDatabase {
  readonly #db: DatabaseSync;
  readonly #cache = new Map<string, StatementSync>();

  constructor(path: string) {
    this.#db = new DatabaseSync(path, { timeout: 5000 });
    this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;");
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

  #one(sql: string, params: readonly SqlValue[], mode: SqlMode): SqlResult | { columns: string[]; rows: SqlValue[][] } {
    const start = performance.now();
    const stmt = this.#prepare(sql);
    const columns = stmt.columns().map((c) => c.name);
    if (mode === "raw") {
      stmt.setReturnArrays(true);
      try {
        return { columns, rows: columns.length > 0 ? (stmt.all(...params) as unknown as SqlValue[][]) : (stmt.run(...params), []) };
      } finally {
        stmt.setReturnArrays(false);
      }
    }
    if (columns.length > 0) {
      const results = stmt.all(...params) as Record<string, SqlValue>[];
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

  query(sql: string, params: readonly SqlValue[], mode: SqlMode): SqlResult | { columns: string[]; rows: SqlValue[][] } {
    try {
      return this.#one(sql, params, mode);
    } catch (err) {
      throw sqlError(err, sql);
    }
  }

  batch(statements: readonly (readonly [string, readonly SqlValue[]])[]): SqlResult[] {
    const out: SqlResult[] = [];
    this.#db.exec("BEGIN IMMEDIATE");
    let i = 0;
    try {
      for (; i < statements.length; i++) {
        const [sql, params] = statements[i]!;
        out.push(this.#one(sql, params, "all") as SqlResult);
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      const e = sqlError(err, statements[i]?.[0] ?? "");
      throw new StratusError("STRATUS_E_SQL", `batch statement ${i + 1} of ${statements.length} failed, nothing was written: ${e.message}`);
    }
    return out;
  }

  exec(sql: string): { count: number; duration: number } {
    const start = performance.now();
    try {
      this.#db.exec(sql);
    } catch (err) {
      throw sqlError(err, sql);
    }
    return { count: sql.split(";").filter((s) => s.trim() !== "").length, duration: performance.now() - start };
  }

  close(): void {
    this.#cache.clear();
    if (this.#db.isOpen) this.#db.close();
  }
}

function sqlError(err: unknown, sql: string): StratusError {
  if (err instanceof StratusError) return err;
  const msg = err instanceof Error ? err.message : String(err);
  const shown = sql.length > 120 ? `${sql.slice(0, 117)}...` : sql;
  return new StratusError("STRATUS_E_SQL", `SQL error: ${msg} (in: ${shown})`, { cause: err });
}
