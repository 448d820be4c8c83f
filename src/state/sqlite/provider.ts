/** The embedded state backend: one SQLite file per (service, binding), under the data directory. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { KvStore, SqlDatabase, StateProvider } from "../interface.ts";
import { SqliteKvStore, type Clock } from "./kv.ts";
import { SqliteSqlDatabase } from "./sql.ts";

/** Options of SqliteStateProvider. */
export interface SqliteStateOptions {
  /** Directory for the files; null keeps everything in memory (tests). */
  dir: string | null;
  /** Clock for KV expiry (default Date.now). */
  clock?: Clock;
}

/** SqliteStateProvider: files at <dir>/<service>/<binding>.kv.sqlite and .sql.sqlite. */
export class SqliteStateProvider implements StateProvider {
  readonly #opts: SqliteStateOptions;
  readonly #kv = new Map<string, SqliteKvStore>();
  readonly #sql = new Map<string, SqliteSqlDatabase>();

  constructor(opts: SqliteStateOptions) {
    this.#opts = opts;
  }

  #path(service: string, binding: string, kind: string): string {
    if (this.#opts.dir === null) return ":memory:";
    const dir = join(this.#opts.dir, service);
    mkdirSync(dir, { recursive: true });
    return join(dir, `${binding}.${kind}.sqlite`);
  }

  kv(service: string, binding: string): KvStore {
    const id = `${service}/${binding}`;
    let s = this.#kv.get(id);
    if (!s) {
      s = new SqliteKvStore(this.#path(service, binding, "kv"), this.#opts.clock);
      this.#kv.set(id, s);
    }
    return s;
  }

  sql(service: string, binding: string): SqlDatabase {
    const id = `${service}/${binding}`;
    let s = this.#sql.get(id);
    if (!s) {
      s = new SqliteSqlDatabase(this.#path(service, binding, "sql"));
      this.#sql.set(id, s);
    }
    return s;
  }

  close(): void {
    for (const s of this.#kv.values()) s.close();
    for (const s of this.#sql.values()) s.close();
    this.#kv.clear();
    this.#sql.clear();
  }
}
