/** The registry in one SQLite file of the node's data directory (node:sqlite, WAL, synchronous=FULL). */
import { DatabaseSync } from "node:sqlite";
import { StratusError } from "../errors/index.ts";
import { privateDbFile } from "../state/index.ts";
import type { AppliedStack, AuditEntry, Registry, Role, SealedSecret, TokenInfo, VersionRecord } from "./interface.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created INTEGER NOT NULL, expires INTEGER, revoked INTEGER);
CREATE TABLE IF NOT EXISTS versions (service TEXT NOT NULL, version TEXT NOT NULL, created INTEGER NOT NULL, digest TEXT NOT NULL, code TEXT NOT NULL, config TEXT NOT NULL, PRIMARY KEY (service, version));
CREATE TABLE IF NOT EXISTS stack (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL, yaml TEXT NOT NULL, active TEXT NOT NULL, applied INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, sealed TEXT NOT NULL, key_id TEXT NOT NULL, updated INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT NOT NULL);
`;

type Row = Record<string, unknown>;

function token(r: Row): TokenInfo {
  return {
    id: r["id"] as string,
    name: r["name"] as string,
    role: r["role"] as Role,
    created: Number(r["created"]),
    expires: r["expires"] === null ? null : Number(r["expires"]),
    revoked: r["revoked"] === null ? null : Number(r["revoked"]),
  };
}

function version(r: Row): VersionRecord {
  return {
    service: r["service"] as string,
    version: r["version"] as string,
    created: Number(r["created"]),
    digest: r["digest"] as string,
    code: r["code"] as string,
    config: r["config"] as string,
  };
}

/** SqliteRegistry: node:sqlite is synchronous, so each method does its work before it returns its Promise. */
export class SqliteRegistry implements Registry {
  readonly #db: DatabaseSync;

  constructor(file: string) {
    try {
      // Tokens and sealed secrets: the file and its -wal/-shm are readable by the owner only.
      privateDbFile(file);
      this.#db = new DatabaseSync(file, { timeout: 10_000 });
      this.#db.exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;");
      this.#db.exec(SCHEMA);
      privateDbFile(file);
    } catch (err) {
      throw new StratusError(
        "STRATUS_E_REGISTRY",
        `cannot open the registry ${file}: ${(err as Error).message}; check the data directory and its permissions`,
        {
          cause: err,
        },
      );
    }
  }

  #tx<T>(fn: () => T): T {
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const out = fn();
      this.#db.exec("COMMIT");
      return out;
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  async tokenByHash(hash: string): Promise<TokenInfo | null> {
    const r = this.#db.prepare("SELECT * FROM tokens WHERE hash = ?").get(hash);
    return r ? token(r) : null;
  }

  async createToken(info: TokenInfo, hash: string): Promise<void> {
    this.#db
      .prepare("INSERT INTO tokens (id, name, role, hash, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, NULL)")
      .run(info.id, info.name, info.role, hash, info.created, info.expires);
  }

  async tokens(): Promise<TokenInfo[]> {
    return this.#db.prepare("SELECT * FROM tokens ORDER BY created").all().map(token);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return Number(this.#db.prepare("UPDATE tokens SET revoked = coalesce(revoked, ?) WHERE id = ?").run(at, id).changes) > 0;
  }

  async putVersion(v: VersionRecord): Promise<void> {
    this.#db
      .prepare(
        "INSERT INTO versions (service, version, created, digest, code, config) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (service, version) DO UPDATE SET digest = excluded.digest, code = excluded.code, config = excluded.config",
      )
      .run(v.service, v.version, v.created, v.digest, v.code, v.config);
  }

  async deleteVersion(service: string, v: string): Promise<boolean> {
    return Number(this.#db.prepare("DELETE FROM versions WHERE service = ? AND version = ?").run(service, v).changes) > 0;
  }

  async version(service: string, v: string): Promise<VersionRecord | null> {
    const r = this.#db.prepare("SELECT * FROM versions WHERE service = ? AND version = ?").get(service, v);
    return r ? version(r) : null;
  }

  async versions(service: string): Promise<VersionRecord[]> {
    return this.#db.prepare("SELECT * FROM versions WHERE service = ? ORDER BY created DESC, rowid DESC").all(service).map(version);
  }

  async stack(): Promise<AppliedStack | null> {
    const r = this.#db.prepare("SELECT * FROM stack WHERE id = 1").get();
    if (!r) return null;
    return {
      name: r["name"] as string,
      yaml: r["yaml"] as string,
      active: JSON.parse(r["active"] as string) as Record<string, string>,
      applied: Number(r["applied"]),
    };
  }

  async setStack(stack: AppliedStack | null, audit: Omit<AuditEntry, "id">): Promise<void> {
    this.#tx(() => {
      if (stack === null) this.#db.prepare("DELETE FROM stack").run();
      else {
        this.#db
          .prepare(
            "INSERT INTO stack (id, name, yaml, active, applied) VALUES (1, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, yaml = excluded.yaml, active = excluded.active, applied = excluded.applied",
          )
          .run(stack.name, stack.yaml, JSON.stringify(stack.active), stack.applied);
      }
      this.#audit(audit);
    });
  }

  async putSecret(s: SealedSecret): Promise<void> {
    this.#putSecret(s);
  }

  #putSecret(s: SealedSecret): void {
    this.#db
      .prepare(
        "INSERT INTO secrets (name, sealed, key_id, updated) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id, updated = excluded.updated",
      )
      .run(s.name, s.sealed, s.keyId, s.updated);
  }

  async deleteSecret(name: string): Promise<boolean> {
    return Number(this.#db.prepare("DELETE FROM secrets WHERE name = ?").run(name).changes) > 0;
  }

  async secrets(): Promise<SealedSecret[]> {
    return this.#db
      .prepare("SELECT * FROM secrets ORDER BY name")
      .all()
      .map((r) => ({ name: r["name"] as string, sealed: r["sealed"] as string, keyId: r["key_id"] as string, updated: Number(r["updated"]) }));
  }

  async replaceSecrets(all: SealedSecret[]): Promise<void> {
    this.#tx(() => {
      this.#db.prepare("DELETE FROM secrets").run();
      for (const s of all) this.#putSecret(s);
    });
  }

  async audit(entry: Omit<AuditEntry, "id">): Promise<void> {
    this.#audit(entry);
  }

  #audit(entry: Omit<AuditEntry, "id">): void {
    this.#db
      .prepare("INSERT INTO audit (at, actor, action, detail) VALUES (?, ?, ?, ?)")
      .run(entry.at, entry.actor, entry.action, JSON.stringify(entry.detail));
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    return this.#db
      .prepare("SELECT * FROM audit ORDER BY id DESC LIMIT ?")
      .all(limit)
      .map((r) => ({
        id: Number(r["id"]),
        at: Number(r["at"]),
        actor: r["actor"] as string,
        action: r["action"] as string,
        detail: JSON.parse(r["detail"] as string) as Record<string, unknown>,
      }));
  }

  async meta(key: string): Promise<string | null> {
    const r = this.#db.prepare("SELECT value FROM meta WHERE key = ?").get(key);
    return r ? (r["value"] as string) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    this.#db.prepare("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}
