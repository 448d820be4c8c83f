/**
 * The registry of a cluster in PostgreSQL: versions, the applied stack, hashed tokens, sealed
 * secrets, the audit log and the node's bookkeeping, in tables of the cluster's schema, so that
 * every node reads and changes the same registry. `pg` is imported on the first call.
 */
import type { Pool, PoolClient } from "pg";
import { openSchemaPool, quotedSchema } from "../postgres/index.ts";
import { StratusError } from "../errors/index.ts";
import type { AppliedStack, AuditEntry, Registry, Role, SealedSecret, TokenInfo, VersionRecord } from "./interface.ts";

/** Options of PostgresRegistry. */
export interface PostgresRegistryOptions {
  /** The server, as a connection URL (postgres://user@host:port/database). */
  url: string;
  /** The cluster's schema (created when missing): lowercase letters, digits and `_`. */
  schema: string;
  /** Most connections this process opens (default 4). */
  maxConnections?: number;
}

const tables = (s: string): string[] => [
  `CREATE TABLE IF NOT EXISTS ${s}.registry_meta (key text PRIMARY KEY, value text NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${s}.tokens (id text PRIMARY KEY, name text NOT NULL, role text NOT NULL, hash text NOT NULL UNIQUE, created bigint NOT NULL, expires bigint, revoked bigint)`,
  // seq: the order of storing, which breaks ties between versions created in the same millisecond.
  `CREATE TABLE IF NOT EXISTS ${s}.versions (service text NOT NULL, version text NOT NULL, seq bigserial NOT NULL, created bigint NOT NULL, digest text NOT NULL, code text NOT NULL, config text NOT NULL, PRIMARY KEY (service, version))`,
  `CREATE TABLE IF NOT EXISTS ${s}.stack (id int PRIMARY KEY CHECK (id = 1), name text NOT NULL, yaml text NOT NULL, active text NOT NULL, applied bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${s}.secrets (name text PRIMARY KEY, sealed text NOT NULL, key_id text NOT NULL, updated bigint NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS ${s}.audit (id bigserial PRIMARY KEY, at bigint NOT NULL, actor text NOT NULL, action text NOT NULL, detail text NOT NULL)`,
];

type Row = Record<string, unknown>;
const num = (v: unknown): number => Number(v);
const optNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

function token(r: Row): TokenInfo {
  return {
    id: r["id"] as string,
    name: r["name"] as string,
    role: r["role"] as Role,
    created: num(r["created"]),
    expires: optNum(r["expires"]),
    revoked: optNum(r["revoked"]),
  };
}

function version(r: Row): VersionRecord {
  return {
    service: r["service"] as string,
    version: r["version"] as string,
    created: num(r["created"]),
    digest: r["digest"] as string,
    code: r["code"] as string,
    config: r["config"] as string,
  };
}

function registryError(err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  return new StratusError("STRATUS_E_REGISTRY", `the registry on PostgreSQL failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
}

/** PostgresRegistry. */
export class PostgresRegistry implements Registry {
  readonly #opts: PostgresRegistryOptions;
  readonly #s: string;
  #pool: Promise<Pool> | null = null;
  #closed = false;

  constructor(opts: PostgresRegistryOptions) {
    this.#s = quotedSchema(opts.schema);
    this.#opts = opts;
  }

  #ready(): Promise<Pool> {
    if (this.#closed) return Promise.reject(new StratusError("STRATUS_E_REGISTRY", "the registry is closed"));
    this.#pool ??= this.#connect().catch((err: unknown) => {
      this.#pool = null;
      throw err;
    });
    return this.#pool;
  }

  #connect(): Promise<Pool> {
    return openSchemaPool({
      url: this.#opts.url,
      max: this.#opts.maxConnections ?? 4,
      connectTimeoutMs: 10_000,
      schema: this.#s,
      lock: `stratus-registry:${this.#opts.schema}`,
      tables: tables(this.#s),
    });
  }

  async #inTx<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
    const c = await pool.connect();
    try {
      await c.query("BEGIN");
      const out = await fn(c);
      await c.query("COMMIT");
      return out;
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  }

  async #q(sql: string, values: unknown[] = []): Promise<{ rows: Row[]; rowCount: number }> {
    try {
      const r = await (await this.#ready()).query(sql, values);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? 0 };
    } catch (err) {
      throw registryError(err);
    }
  }

  async #tx<T>(fn: (c: PoolClient) => Promise<T>): Promise<T> {
    try {
      return await this.#inTx(await this.#ready(), fn);
    } catch (err) {
      throw registryError(err);
    }
  }

  async tokenByHash(hash: string): Promise<TokenInfo | null> {
    const r = await this.#q(`SELECT * FROM ${this.#s}.tokens WHERE hash = $1`, [hash]);
    return r.rows[0] ? token(r.rows[0]) : null;
  }

  async createToken(info: TokenInfo, hash: string): Promise<void> {
    await this.#q(`INSERT INTO ${this.#s}.tokens (id, name, role, hash, created, expires, revoked) VALUES ($1, $2, $3, $4, $5, $6, NULL)`, [
      info.id,
      info.name,
      info.role,
      hash,
      info.created,
      info.expires,
    ]);
  }

  async tokens(): Promise<TokenInfo[]> {
    return (await this.#q(`SELECT * FROM ${this.#s}.tokens ORDER BY created, id`)).rows.map(token);
  }

  async revokeToken(id: string, at: number): Promise<boolean> {
    return (await this.#q(`UPDATE ${this.#s}.tokens SET revoked = coalesce(revoked, $1) WHERE id = $2`, [at, id])).rowCount > 0;
  }

  async putVersion(v: VersionRecord): Promise<void> {
    await this.#q(
      `INSERT INTO ${this.#s}.versions (service, version, created, digest, code, config) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (service, version) DO UPDATE SET digest = excluded.digest, code = excluded.code, config = excluded.config`,
      [v.service, v.version, v.created, v.digest, v.code, v.config],
    );
  }

  async deleteVersion(service: string, v: string): Promise<boolean> {
    return (await this.#q(`DELETE FROM ${this.#s}.versions WHERE service = $1 AND version = $2`, [service, v])).rowCount > 0;
  }

  async version(service: string, v: string): Promise<VersionRecord | null> {
    const r = await this.#q(`SELECT * FROM ${this.#s}.versions WHERE service = $1 AND version = $2`, [service, v]);
    return r.rows[0] ? version(r.rows[0]) : null;
  }

  async versions(service: string): Promise<VersionRecord[]> {
    return (await this.#q(`SELECT * FROM ${this.#s}.versions WHERE service = $1 ORDER BY created DESC, seq DESC`, [service])).rows.map(version);
  }

  async stack(): Promise<AppliedStack | null> {
    const r = (await this.#q(`SELECT * FROM ${this.#s}.stack WHERE id = 1`)).rows[0];
    if (!r) return null;
    return {
      name: r["name"] as string,
      yaml: r["yaml"] as string,
      active: JSON.parse(r["active"] as string) as Record<string, string>,
      applied: num(r["applied"]),
    };
  }

  async setStack(stack: AppliedStack | null, audit: Omit<AuditEntry, "id">): Promise<void> {
    await this.#tx(async (c) => {
      if (stack === null) await c.query(`DELETE FROM ${this.#s}.stack`);
      else {
        await c.query(
          `INSERT INTO ${this.#s}.stack (id, name, yaml, active, applied) VALUES (1, $1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, yaml = excluded.yaml, active = excluded.active, applied = excluded.applied`,
          [stack.name, stack.yaml, JSON.stringify(stack.active), stack.applied],
        );
      }
      await c.query(`INSERT INTO ${this.#s}.audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)`, [
        audit.at,
        audit.actor,
        audit.action,
        JSON.stringify(audit.detail),
      ]);
    });
  }

  async putSecret(s: SealedSecret): Promise<void> {
    await this.#q(
      `INSERT INTO ${this.#s}.secrets (name, sealed, key_id, updated) VALUES ($1, $2, $3, $4)
       ON CONFLICT (name) DO UPDATE SET sealed = excluded.sealed, key_id = excluded.key_id, updated = excluded.updated`,
      [s.name, s.sealed, s.keyId, s.updated],
    );
  }

  async deleteSecret(name: string): Promise<boolean> {
    return (await this.#q(`DELETE FROM ${this.#s}.secrets WHERE name = $1`, [name])).rowCount > 0;
  }

  async secrets(): Promise<SealedSecret[]> {
    return (await this.#q(`SELECT * FROM ${this.#s}.secrets ORDER BY name COLLATE "C"`)).rows.map((r) => ({
      name: r["name"] as string,
      sealed: r["sealed"] as string,
      keyId: r["key_id"] as string,
      updated: num(r["updated"]),
    }));
  }

  async replaceSecrets(all: SealedSecret[]): Promise<void> {
    await this.#tx(async (c) => {
      await c.query(`DELETE FROM ${this.#s}.secrets`);
      for (const s of all) {
        await c.query(`INSERT INTO ${this.#s}.secrets (name, sealed, key_id, updated) VALUES ($1, $2, $3, $4)`, [s.name, s.sealed, s.keyId, s.updated]);
      }
    });
  }

  async audit(entry: Omit<AuditEntry, "id">): Promise<void> {
    await this.#q(`INSERT INTO ${this.#s}.audit (at, actor, action, detail) VALUES ($1, $2, $3, $4)`, [
      entry.at,
      entry.actor,
      entry.action,
      JSON.stringify(entry.detail),
    ]);
  }

  async auditLog(limit: number): Promise<AuditEntry[]> {
    return (await this.#q(`SELECT * FROM ${this.#s}.audit ORDER BY id DESC LIMIT $1`, [limit])).rows.map((r) => ({
      id: num(r["id"]),
      at: num(r["at"]),
      actor: r["actor"] as string,
      action: r["action"] as string,
      detail: JSON.parse(r["detail"] as string) as Record<string, unknown>,
    }));
  }

  async meta(key: string): Promise<string | null> {
    const r = await this.#q(`SELECT value FROM ${this.#s}.registry_meta WHERE key = $1`, [key]);
    return r.rows[0] ? (r.rows[0]["value"] as string) : null;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.#q(`INSERT INTO ${this.#s}.registry_meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`, [key, value]);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const pool = this.#pool;
    this.#pool = null;
    if (pool) await pool.then((p) => p.end()).catch(() => undefined);
  }
}
