/** A KV namespace in its own SQLite file (or in memory). */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StratusError } from "../../errors/index.ts";
import { KV_LIMITS, type KvListResult, type KvPutOptions, type KvStore } from "../interface.ts";
import { privateDbFile } from "./files.ts";
import { allowanceFor, quotaError, quotaStopped, type Quota } from "./quota.ts";

/** Milliseconds since the epoch; injectable so tests can move time. */
export type Clock = () => number;

const encoder = new TextEncoder();

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
    checkKey(key);
    if (!(value instanceof Uint8Array)) throw new StratusError("STRATUS_E_KV_ARGUMENT", "KV put: the value must be bytes");
    if (value.byteLength > KV_LIMITS.maxValueBytes) {
      throw new StratusError(
        "STRATUS_E_KV_LIMIT",
        `KV put("${key.slice(0, 40)}"): the value is ${value.byteLength} bytes; the limit is ${KV_LIMITS.maxValueBytes} (25 MiB): split it or store it elsewhere`,
      );
    }
    if (options.metadata != null && encoder.encode(options.metadata).byteLength > KV_LIMITS.maxMetadataBytes) {
      throw new StratusError(
        "STRATUS_E_KV_LIMIT",
        `KV put("${key.slice(0, 40)}"): metadata is over ${KV_LIMITS.maxMetadataBytes} bytes as JSON; keep it small`,
      );
    }
    const now = this.#clock();
    let expires: number | null = null;
    if (options.expirationTtl != null) {
      const ttl = options.expirationTtl;
      if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < KV_MIN_TTL_SECONDS || ttl > KV_MAX_EXPIRATION_SECONDS) {
        throw new StratusError(
          "STRATUS_E_KV_ARGUMENT",
          `KV put: expirationTtl must be a number of seconds from ${KV_MIN_TTL_SECONDS} to ${KV_MAX_EXPIRATION_SECONDS}, got ${show(ttl)}; omit it for a key that never expires`,
        );
      }
      expires = now + Math.round(ttl * 1000);
    } else if (options.expiration != null) {
      const at = options.expiration;
      if (typeof at !== "number" || !Number.isFinite(at) || at * 1000 < now + KV_MIN_TTL_SECONDS * 1000 || at > KV_MAX_EXPIRATION_SECONDS) {
        throw new StratusError(
          "STRATUS_E_KV_ARGUMENT",
          `KV put: expiration must be seconds since the epoch at least ${KV_MIN_TTL_SECONDS} s ahead (now is ${Math.floor(now / 1000)}), got ${show(at)}; omit it for a key that never expires`,
        );
      }
      expires = Math.round(at * 1000);
    }
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
    const prefix = options.prefix ?? "";
    const limit = options.limit ?? KV_LIMITS.maxListLimit;
    if (typeof prefix !== "string") throw new StratusError("STRATUS_E_KV_ARGUMENT", "KV list: prefix must be a string");
    if (!prefix.isWellFormed())
      throw new StratusError(
        "STRATUS_E_KV_ARGUMENT",
        `KV list: the prefix ${JSON.stringify(prefix.slice(0, 40))} is not well-formed UTF-16 (a lone surrogate)`,
      );
    if (!Number.isInteger(limit) || limit < 1 || limit > KV_LIMITS.maxListLimit) {
      throw new StratusError("STRATUS_E_KV_ARGUMENT", `KV list: limit must be an integer from 1 to ${KV_LIMITS.maxListLimit}, got ${String(limit)}`);
    }
    let after = "";
    if (options.cursor) {
      try {
        after = Buffer.from(options.cursor, "base64url").toString("utf8");
      } catch {
        throw new StratusError("STRATUS_E_KV_ARGUMENT", "KV list: the cursor is not one this namespace returned");
      }
    }
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
    if (more) result.cursor = Buffer.from(page[page.length - 1]!.key, "utf8").toString("base64url");
    return result;
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}

/** Workers KV's shortest expiry: a key expires at least this many seconds after it is written. */
const KV_MIN_TTL_SECONDS = 60;
/** The latest expiry (year 2286 in epoch seconds): past it a value means "never", which omitting it says. */
const KV_MAX_EXPIRATION_SECONDS = 9_999_999_999;

/** A value as a message quotes it (JSON, with NaN and Infinity as themselves). */
function show(v: unknown): string {
  return typeof v === "number" ? String(v) : (JSON.stringify(v) ?? typeof v);
}

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") throw new StratusError("STRATUS_E_KV_ARGUMENT", `KV: a key must be a string, got ${key === null ? "null" : typeof key}`);
  // SQLite stores keys as UTF-8, where every lone surrogate becomes U+FFFD: "\ud800", "\udfff" and
  // "\ufffd" would be one key.
  if (!key.isWellFormed())
    throw new StratusError(
      "STRATUS_E_KV_ARGUMENT",
      `KV: the key ${JSON.stringify(key.slice(0, 40))} is not well-formed UTF-16 (a lone surrogate); use valid text`,
    );
  if (key === "" || key === "." || key === "..")
    throw new StratusError("STRATUS_E_KV_ARGUMENT", `KV: the key ${JSON.stringify(key)} is not allowed; use a non-empty name other than "." and ".."`);
  const n = encoder.encode(key).byteLength;
  if (n > KV_LIMITS.maxKeyBytes)
    throw new StratusError(
      "STRATUS_E_KV_LIMIT",
      `KV: the key "${key.slice(0, 40)}..." is ${n} bytes; the limit is ${KV_LIMITS.maxKeyBytes}: use a shorter key (e.g. a hash)`,
    );
}
