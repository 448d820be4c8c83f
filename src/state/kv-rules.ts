/**
 * The argument rules every KV backend applies the same way (key and value limits, expiry, list
 * options and cursors), so a function gets the same coded errors whatever stores its namespace.
 */
import { StratusError } from "../errors/index.ts";
import { KV_LIMITS, type KvPutOptions } from "./interface.ts";

const encoder = new TextEncoder();

/** Workers KV's shortest expiry: a key expires at least this many seconds after it is written. */
export const KV_MIN_TTL_SECONDS = 60;
/** The latest expiry (year 2286 in epoch seconds): past it a value means "never", which omitting it says. */
export const KV_MAX_EXPIRATION_SECONDS = 9_999_999_999;

/** A value as a message quotes it (JSON, with NaN and Infinity as themselves). */
function show(v: unknown): string {
  return typeof v === "number" ? String(v) : (JSON.stringify(v) ?? typeof v);
}

/** Checks a key: a well-formed string, not empty, "." or "..", at most KV_LIMITS.maxKeyBytes of UTF-8. */
export function checkKey(key: unknown): asserts key is string {
  if (typeof key !== "string") throw new StratusError("STRATUS_E_KV_ARGUMENT", `KV: a key must be a string, got ${key === null ? "null" : typeof key}`);
  // Keys are stored as UTF-8, where every lone surrogate becomes U+FFFD: "\ud800", "\udfff" and
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

/**
 * Checks a put's key, value and options at `now` (epoch ms); returns when it expires (epoch ms)
 * or null for never.
 */
export function checkPut(key: unknown, value: unknown, options: KvPutOptions, now: number): number | null {
  checkKey(key);
  if (!(value instanceof Uint8Array)) throw new StratusError("STRATUS_E_KV_ARGUMENT", "KV put: the value must be bytes");
  if (value.byteLength > KV_LIMITS.maxValueBytes) {
    throw new StratusError(
      "STRATUS_E_KV_LIMIT",
      `KV put("${key.slice(0, 40)}"): the value is ${value.byteLength} bytes; the limit is ${KV_LIMITS.maxValueBytes} (25 MiB): split it or store it elsewhere`,
    );
  }
  if (options.metadata != null && encoder.encode(options.metadata).byteLength > KV_LIMITS.maxMetadataBytes) {
    throw new StratusError("STRATUS_E_KV_LIMIT", `KV put("${key.slice(0, 40)}"): metadata is over ${KV_LIMITS.maxMetadataBytes} bytes as JSON; keep it small`);
  }
  if (options.expirationTtl != null) {
    const ttl = options.expirationTtl;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < KV_MIN_TTL_SECONDS || ttl > KV_MAX_EXPIRATION_SECONDS) {
      throw new StratusError(
        "STRATUS_E_KV_ARGUMENT",
        `KV put: expirationTtl must be a number of seconds from ${KV_MIN_TTL_SECONDS} to ${KV_MAX_EXPIRATION_SECONDS}, got ${show(ttl)}; omit it for a key that never expires`,
      );
    }
    return now + Math.round(ttl * 1000);
  }
  if (options.expiration != null) {
    const at = options.expiration;
    if (typeof at !== "number" || !Number.isFinite(at) || at * 1000 < now + KV_MIN_TTL_SECONDS * 1000 || at > KV_MAX_EXPIRATION_SECONDS) {
      throw new StratusError(
        "STRATUS_E_KV_ARGUMENT",
        `KV put: expiration must be seconds since the epoch at least ${KV_MIN_TTL_SECONDS} s ahead (now is ${Math.floor(now / 1000)}), got ${show(at)}; omit it for a key that never expires`,
      );
    }
    return Math.round(at * 1000);
  }
  return null;
}

/** A list() call's options, checked: the prefix, the page size, and the key the page starts after ("" for the first). */
export function checkList(options: { prefix?: string; cursor?: string | null; limit?: number }): { prefix: string; limit: number; after: string } {
  const prefix = options.prefix ?? "";
  const limit = options.limit ?? KV_LIMITS.maxListLimit;
  if (typeof prefix !== "string") throw new StratusError("STRATUS_E_KV_ARGUMENT", "KV list: prefix must be a string");
  if (!prefix.isWellFormed())
    throw new StratusError("STRATUS_E_KV_ARGUMENT", `KV list: the prefix ${JSON.stringify(prefix.slice(0, 40))} is not well-formed UTF-16 (a lone surrogate)`);
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
  return { prefix, limit, after };
}

/** The cursor of a page that ended at `lastKey`. */
export function cursorAfter(lastKey: string): string {
  return Buffer.from(lastKey, "utf8").toString("base64url");
}
