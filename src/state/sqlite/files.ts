/**
 * Data files readable by their owner only. State, events and the registry hold secrets and
 * tokens: every database file, its -wal/-shm companions and their directories are private.
 */
import { chmodSync, closeSync, mkdirSync, openSync } from "node:fs";

/** Creates `dir` (and parents) as 0700, and makes an existing one 0700. */
export function privateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

/**
 * Creates the database file `path` as 0600 before SQLite opens it (SQLite gives its -wal and -shm
 * files the mode of the database file), and fixes the mode of files an older version left 0644.
 * No-op for ":memory:".
 */
export function privateDbFile(path: string): void {
  if (path === ":memory:" || path === "") return;
  closeSync(openSync(path, "a", 0o600));
  for (const p of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(p, 0o600);
    } catch {
      // -wal / -shm exist only while the database is open in WAL mode.
    }
  }
}
