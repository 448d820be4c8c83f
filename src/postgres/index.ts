/**
 * What every PostgreSQL backend shares: a schema name checked before it reaches SQL, and a pool
 * (pg loaded on first use) whose schema and tables are in place before the first call.
 */
import type { Pool } from "pg";
import { StratusError } from "../errors/index.ts";

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** The schema name, quoted for SQL; refuses a name that is not a plain lowercase identifier. */
export function quotedSchema(schema: string): string {
  if (!SCHEMA_NAME.test(schema)) {
    throw new StratusError(
      "STRATUS_E_CLI_USAGE",
      `the PostgreSQL schema name ${JSON.stringify(schema)} is not valid; use lowercase letters, digits and _ (at most 63), starting with a letter or _`,
    );
  }
  return `"${schema}"`;
}

export interface SchemaPoolOptions {
  url: string;
  max: number;
  connectTimeoutMs: number;
  idleTimeoutMs?: number;
  /** The quoted schema (see quotedSchema). */
  schema: string;
  /** Names the advisory lock nodes starting together take while one of them creates the tables. */
  lock: string;
  /** CREATE ... IF NOT EXISTS statements, run in order after the schema is created. */
  tables: readonly string[];
}

/** A pool connected, with the schema and its tables created (once, under an advisory lock). */
export async function openSchemaPool(o: SchemaPoolOptions): Promise<Pool> {
  const { default: pg } = await import("pg");
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max,
    connectionTimeoutMillis: o.connectTimeoutMs,
    ...(o.idleTimeoutMs !== undefined ? { idleTimeoutMillis: o.idleTimeoutMs } : {}),
  });
  // An idle connection that breaks (server restart) is dropped by the pool; the next call
  // reports any lasting failure. Without a listener the error would end the process.
  pool.on("error", () => undefined);
  try {
    const c = await pool.connect();
    try {
      // Nodes of a cluster start together: one of them creates the schema and tables, the
      // others wait on the lock and find them.
      await c.query("BEGIN");
      await c.query("SELECT pg_advisory_xact_lock(hashtext($1))", [o.lock]);
      await c.query(`CREATE SCHEMA IF NOT EXISTS ${o.schema}`);
      for (const t of o.tables) await c.query(t);
      await c.query("COMMIT");
    } catch (err) {
      await c.query("ROLLBACK").catch(() => undefined);
      throw err;
    } finally {
      c.release();
    }
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
  return pool;
}
