/**
 * KV namespaces in PostgreSQL: one table per cluster schema, keyed by (service, binding, key).
 * Keys are stored as their UTF-8 bytes (bytea), which orders them the way SQLite's BINARY
 * collation does (code point order) under any database collation, and keeps a NUL in a key.
 */
import type { Pool } from "pg";
import { StratusError } from "../../errors/index.ts";
import type { KvListResult, KvPutOptions, KvStore } from "../interface.ts";
import { checkKey, checkList, checkPut, cursorAfter } from "../kv-rules.ts";

/** What a PostgresKvStore needs from its provider: a ready pool and the quoted table name. */
export interface PgKvContext {
  /** Resolves once the pool is connected and the table exists. */
  ready(): Promise<Pool>;
  /** The schema-qualified, quoted name of the table. */
  readonly table: string;
  /** Milliseconds since the epoch (expiry). */
  readonly clock: () => number;
}

/** How many puts pass between two sweeps of expired rows of a namespace. */
const PURGE_EVERY = 1000;

/** The first byte string greater than every string that starts with `p`, or null (all 0xff). */
function prefixEnd(p: Buffer): Buffer | null {
  const end = Buffer.from(p);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return null;
}

/** Wraps a driver failure as STRATUS_E_KV_BACKEND naming the operation; a coded error passes through. */
export function kvError(op: string, err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  return new StratusError("STRATUS_E_KV_BACKEND", `KV ${op} failed on PostgreSQL: ${err instanceof Error ? err.message : String(err)}; retry`, {
    cause: err,
  });
}

/** PostgresKvStore: one (service, binding) namespace. */
export class PostgresKvStore implements KvStore {
  readonly #ctx: PgKvContext;
  readonly #service: string;
  readonly #binding: string;
  #writes = 0;

  constructor(ctx: PgKvContext, service: string, binding: string) {
    this.#ctx = ctx;
    this.#service = service;
    this.#binding = binding;
  }

  async get(key: string): Promise<{ value: Uint8Array; metadata: string | null } | null> {
    checkKey(key);
    try {
      const pool = await this.#ctx.ready();
      const r = await pool.query<{ value: Buffer; metadata: string | null }>(
        `SELECT value, metadata FROM ${this.#ctx.table} WHERE service = $1 AND binding = $2 AND key = $3 AND (expires IS NULL OR expires > $4)`,
        [this.#service, this.#binding, Buffer.from(key, "utf8"), this.#ctx.clock()],
      );
      const row = r.rows[0];
      return row ? { value: new Uint8Array(row.value.buffer, row.value.byteOffset, row.value.byteLength), metadata: row.metadata } : null;
    } catch (err) {
      throw kvError("get", err);
    }
  }

  async put(key: string, value: Uint8Array, options: KvPutOptions = {}): Promise<void> {
    const now = this.#ctx.clock();
    const expires = checkPut(key, value, options, now);
    try {
      const pool = await this.#ctx.ready();
      if (++this.#writes % PURGE_EVERY === 0) {
        await pool.query(`DELETE FROM ${this.#ctx.table} WHERE service = $1 AND binding = $2 AND expires IS NOT NULL AND expires <= $3`, [
          this.#service,
          this.#binding,
          now,
        ]);
      }
      await pool.query(
        `INSERT INTO ${this.#ctx.table} (service, binding, key, value, expires, metadata) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (service, binding, key) DO UPDATE SET value = excluded.value, expires = excluded.expires, metadata = excluded.metadata`,
        [
          this.#service,
          this.#binding,
          Buffer.from(key, "utf8"),
          Buffer.from(value.buffer, value.byteOffset, value.byteLength),
          expires,
          options.metadata ?? null,
        ],
      );
    } catch (err) {
      throw kvError("put", err);
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    try {
      const pool = await this.#ctx.ready();
      await pool.query(`DELETE FROM ${this.#ctx.table} WHERE service = $1 AND binding = $2 AND key = $3`, [
        this.#service,
        this.#binding,
        Buffer.from(key, "utf8"),
      ]);
    } catch (err) {
      throw kvError("delete", err);
    }
  }

  async list(options: { prefix?: string; cursor?: string | null; limit?: number }): Promise<KvListResult> {
    const { prefix, limit, after } = checkList(options);
    const p = Buffer.from(prefix, "utf8");
    const start = Buffer.from(after, "utf8");
    // Past a cursor at or beyond the prefix: strictly after the cursor's key; else from the prefix.
    const pastCursor = after !== "" && Buffer.compare(start, p) >= 0;
    const end = prefix === "" ? null : prefixEnd(p);
    let rows: { key: Buffer; expires: string | null; metadata: string | null }[];
    try {
      const pool = await this.#ctx.ready();
      // The range [prefix, prefixEnd) is the prefix match itself, so the primary key's index
      // answers it; strictly after the cursor's key when there is one.
      const r = await pool.query<{ key: Buffer; expires: string | null; metadata: string | null }>(
        `SELECT key, expires, metadata FROM ${this.#ctx.table}
          WHERE service = $1 AND binding = $2 AND key ${pastCursor ? ">" : ">="} $3 AND ($4::bytea IS NULL OR key < $4)
            AND (expires IS NULL OR expires > $5)
          ORDER BY key LIMIT $6`,
        [this.#service, this.#binding, pastCursor ? start : p, end, this.#ctx.clock(), limit + 1],
      );
      rows = r.rows;
    } catch (err) {
      throw kvError("list", err);
    }
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const keys = page.map((r) => {
      const k: { name: string; expiration?: number; metadata?: unknown } = { name: r.key.toString("utf8") };
      if (r.expires !== null) k.expiration = Math.floor(Number(r.expires) / 1000);
      if (r.metadata !== null) k.metadata = JSON.parse(r.metadata);
      return k;
    });
    const result: KvListResult = { keys, list_complete: !more };
    if (more) result.cursor = cursorAfter(page[page.length - 1]!.key.toString("utf8"));
    return result;
  }

  async close(): Promise<void> {
    // The pool belongs to the provider.
  }
}
