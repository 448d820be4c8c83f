/**
 * The per-service storage quota. One quota spans all of a service's KV and SQL bindings: before a
 * write, the database being written may grow to the quota less what the service's other database
 * files hold (their size on disk), and SQLite's max_page_count stops any statement that would
 * grow it further. The other files count with their write-ahead logs (where recent writes sit
 * until a checkpoint); journal_size_limit keeps a log from staying large once checkpointed.
 */
import { readdirSync, statfsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { StratusError } from "../../errors/index.ts";

/** A service's storage quota. */
export interface Quota {
  /** The service it belongs to (named in the error). */
  service: string;
  /** Bytes all of the service's KV and SQL databases may hold together. */
  bytes: number;
}

/** The default quota when a service sets no limits.storage: 1 GiB. */
export const DEFAULT_STORAGE_BYTES = 1024 * 1024 * 1024;

/** How long a directory's list of database files is reused; their sizes are read at every call. */
const LISTING_MS = 1000;
const listings = new Map<string, { at: number; names: string[] }>();

function databaseFiles(dir: string): string[] {
  const now = Date.now();
  const cached = listings.get(dir);
  if (cached && now - cached.at < LISTING_MS) return cached.names;
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith(".sqlite"));
  } catch {
    // Not created yet: nothing in it.
  }
  if (listings.size > 1000) listings.clear();
  listings.set(dir, { at: now, names });
  return names;
}

/** Bytes `file` may occupy: the quota less the sizes of the other databases in its directory. */
export function allowanceFor(file: string, quota: Quota): number {
  const dir = dirname(file);
  const self = basename(file);
  let others = 0;
  for (const name of databaseFiles(dir)) {
    if (name === self) continue;
    // A -wal appears with the first write, after the listing may have been taken: stat it always.
    others += statSync(join(dir, name), { throwIfNoEntry: false })?.size ?? 0;
    others += statSync(join(dir, `${name}-wal`), { throwIfNoEntry: false })?.size ?? 0;
  }
  return Math.max(0, quota.bytes - others);
}

/**
 * Whether SQLite's "database or disk is full" on `file` came from the quota (max_page_count) and
 * not from the disk: the disk still has more room than the quota left the file.
 */
export function quotaStopped(file: string, allowance: number, usedBytes: number): boolean {
  try {
    const fs = statfsSync(dirname(file));
    return fs.bavail * fs.bsize > allowance - usedBytes;
  } catch {
    return true;
  }
}

/** STRATUS_E_STORAGE_QUOTA for a write that would take `service` over its quota. */
export function quotaError(quota: Quota, what: "SQL" | "KV"): StratusError {
  return new StratusError(
    "STRATUS_E_STORAGE_QUOTA",
    `${what} write refused: service "${quota.service}" would exceed its storage quota of ${formatBytes(quota.bytes)} (all its KV and SQL bindings together); ` +
      `nothing stored was lost. Delete data, or raise services.${quota.service}.limits.storage in stratus.yaml`,
  );
}

function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["GB", 1024 ** 3],
    ["MB", 1024 ** 2],
    ["KB", 1024],
  ] as const) {
    if (n >= size && n % size === 0) return `${n / size}${unit}`;
  }
  return `${n} bytes`;
}
