/**
 * The embedded coordination backend: leases and membership in one SQLite file (node:sqlite, WAL,
 * synchronous=FULL), shared by the processes of one node. Each call is one statement, atomic on
 * its own, so processes racing for a lease never both win.
 */
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StratusError } from "../errors/index.ts";
import { privateDbFile } from "../state/index.ts";
import type { Coordination, Lease, LeaseStore, Membership, NodeRecord } from "./interface.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, owner TEXT, until INTEGER NOT NULL, epoch INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, last_seen INTEGER NOT NULL, record TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

function lease(r: Row): Lease {
  return { name: r["name"] as string, owner: r["owner"] as string, until: Number(r["until"]), epoch: Number(r["epoch"]) };
}

/** SqliteCoordination: `file` is the database (":memory:" for one process alone). */
export class SqliteCoordination implements Coordination {
  readonly #db: DatabaseSync;
  readonly #s: Record<"acquire" | "release" | "get" | "heartbeat" | "nodes" | "leave", StatementSync>;
  readonly leases: LeaseStore;
  readonly membership: Membership;

  constructor(file: string) {
    try {
      privateDbFile(file);
      this.#db = new DatabaseSync(file, { timeout: 10_000 });
      this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      privateDbFile(file);
      this.#db.exec(SCHEMA);
    } catch (err) {
      throw new StratusError(
        "STRATUS_E_EVENT_STORE",
        `cannot open the coordination file ${file}: ${(err as Error).message}; check the path and its permissions`,
        {
          cause: err,
        },
      );
    }
    const p = (sql: string): StatementSync => this.#db.prepare(sql);
    this.#s = {
      // SET reads the row as it was: the epoch grows only when the owner changes.
      acquire: p(
        `INSERT INTO leases (name, owner, until, epoch) VALUES (?, ?, ?, 1)
         ON CONFLICT (name) DO UPDATE SET
           epoch = CASE WHEN leases.owner IS excluded.owner THEN leases.epoch ELSE leases.epoch + 1 END,
           owner = excluded.owner, until = excluded.until
         WHERE leases.owner IS NULL OR leases.owner = excluded.owner OR leases.until <= ?
         RETURNING name, owner, until, epoch`,
      ),
      release: p("UPDATE leases SET owner = NULL, until = 0 WHERE name = ? AND owner = ?"),
      get: p("SELECT name, owner, until, epoch FROM leases WHERE name = ? AND owner IS NOT NULL"),
      heartbeat: p(
        "INSERT INTO nodes (id, last_seen, record) VALUES (?, ?, ?) ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, record = excluded.record",
      ),
      nodes: p("SELECT record FROM nodes WHERE last_seen >= ? ORDER BY id"),
      leave: p("DELETE FROM nodes WHERE id = ?"),
    };
    const s = this.#s;
    this.leases = {
      acquire: async (name, owner, now, until) => {
        const r = s.acquire.get(name, owner, until, now);
        return r ? lease(r) : null;
      },
      release: async (name, owner) => void s.release.run(name, owner),
      get: async (name) => {
        const r = s.get.get(name);
        return r ? lease(r) : null;
      },
    };
    this.membership = {
      heartbeat: async (n: NodeRecord) => void s.heartbeat.run(n.id, n.lastSeen, JSON.stringify(n)),
      nodes: async (since) => s.nodes.all(since).map((r) => JSON.parse(r["record"] as string) as NodeRecord),
      leave: async (id) => void s.leave.run(id),
    };
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
