/** A KV namespace in its own SQLite file (or in memory). */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import type { KvListResult, KvPutOptions, KvStore } from "../interface.ts";
import { checkKey, checkList, checkPut, cursorAfter } from "../kv-rules.ts";
import { privateDbFile } from "./files.ts";
import { allowanceFor, quotaError, quotaStopped, type Quota } from "./quota.ts";

/** Milliseconds since the epoch; injectable so tests can move time. */
export type Clock = () => number;

const SQLITE_FULL = 13;

/**
 * SqliteKvStore: one table, WITHOUT ROWID, keyed by the UTF-8 key; expiry checked on read. Its
 * statements are fixed and bounded, so it runs in the calling process (no SQL executor).
 */
export class SqliteKvStore implements KvStore {
  readonly #db: DatabaseSync;
  readonly #clock: Clock;
  readonly #get: StatementSync;
  readonly #put: StatementSync;
  readonly #del: StatementSync;
  readonly #list: StatementSync;
  readonly #purge: StatementSync;
  readonly #path: string;
  readonly #quota: () => Quota | null;
  readonly #pageSize: number;
  #writes = 0;

  /** `quota` is read before each put: the service's quota may change with a deploy. */
  constructor(path: string, clock: Clock = Date.now, quota: () => Quota | null = () => null) {
    privateDbFile(path);
    this.#path = path;
    this.#quota = quota;
    this.#db = new DatabaseSync(path, { timeout: 5000 });
    this.#db.exec(
      "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA journal_size_limit=4194304;" +
        "CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires INTEGER, metadata TEXT) WITHOUT ROWID;",
    );
    privateDbFile(path);
    this.#pageSize = Number((this.#db.prepare("PRAGMA page_size").get() as { page_size: number }).page_size);
    this.#clock = clock;
    this.#get = this.#db.prepare("SELECT value, metadata FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)");
    this.#put = this.#db.prepare("INSERT OR REPLACE INTO kv (key, value, expires, metadata) VALUES (?, ?, ?, ?)");
    this.#del = this.#db.prepare("DELETE FROM kv WHERE key = ?");
    this.#list = this.#db.prepare(
      "SELECT key, expires, metadata FROM kv WHERE key >= ? AND key > ? AND substr(key, 1, length(?)) = ? AND (expires IS NULL OR expires > ?) ORDER BY key LIMIT ?",
    );
    this.#purge = this.#db.prepare("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?");
  }

  async get(key: string): Promise<{ value: Uint8Array; metadata: string | null } | null> {
    checkKey(key);
    const row = this.#get.get(key, this.#clock()) as { value: Uint8Array; metadata: string | null } | undefined;
    return row ? { value: row.value, metadata: row.metadata } : null;
  }

  async put(key: string, value: Uint8Array, options: KvPutOptions = {}): Promise<void> {
    const now = this.#clock();
    const expires = checkPut(key, value, options, now);
    if (++this.#writes % 1000 === 0) this.#purge.run(now);
    const quota = this.#path === ":memory:" ? null : this.#quota();
    // SQLite never lowers max_page_count below the current size: a lowered quota stops growth only.
    const allowance = quota === null ? null : allowanceFor(this.#path, quota);
    const pages = allowance === null ? 0xfffffffe : Math.max(1, Math.floor(allowance / this.#pageSize));
    this.#db.exec(`PRAGMA max_page_count = ${pages}`);
    try {
      this.#put.run(key, value, expires, options.metadata ?? null);
    } catch (err) {
      if (quota !== null && allowance !== null && (err as { errcode?: number }).errcode === SQLITE_FULL) {
        const used = Number((this.#db.prepare("PRAGMA page_count").get() as { page_count: number }).page_count) * this.#pageSize;
        if (quotaStopped(this.#path, allowance, used)) throw quotaError(quota, "KV");
      }
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    checkKey(key);
    this.#del.run(key);
  }

  async list(options: { prefix?: string; cursor?: string | null; limit?: number }): Promise<KvListResult> {
    const { prefix, limit, after } = checkList(options);
    const rows = this.#list.all(prefix, after, prefix, prefix, this.#clock(), limit + 1) as { key: string; expires: number | null; metadata: string | null }[];
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    const keys = page.map((r) => {
      const k: { name: string; expiration?: number; metadata?: unknown } = { name: r.key };
      if (r.expires !== null) k.expiration = Math.floor(r.expires / 1000);
      if (r.metadata !== null) k.metadata = JSON.parse(r.metadata);
      return k;
    });
    const result: KvListResult = { keys, list_complete: !more };
    if (more) result.cursor = cursorAfter(page[page.length - 1]!.key);
    return result;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
