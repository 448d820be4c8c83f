// The KV conformance suite against a real PostgreSQL server (PostgresStateProvider). Without a
// server the suite is skipped and says why; with STRATUS_REQUIRE_SERVICES=1 (CI) it fails instead.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { kvStoreSuite } from "./conformance.ts";
import { SqliteStateProvider } from "./index.ts";
import { PostgresStateProvider } from "./postgres/provider.ts";

const URL = process.env["STRATUS_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
const required = process.env["STRATUS_REQUIRE_SERVICES"] === "1";

/** Null when the server answers, else why not. */
async function reach(url: string): Promise<string | null> {
  const { default: pg } = await import("pg");
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
    return null;
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  } finally {
    await c.end().catch(() => undefined);
  }
}

const problem = await reach(URL);
const skip =
  problem !== null && !required
    ? `PostgreSQL is not reachable at ${URL} (${problem}); start it, set STRATUS_TEST_POSTGRES_URL, or set STRATUS_REQUIRE_SERVICES=1 to fail instead of skipping`
    : false;
if (problem !== null && required) {
  test("PostgreSQL is reachable (STRATUS_REQUIRE_SERVICES=1)", () => {
    assert.fail(`PostgreSQL is not reachable at ${URL}: ${problem}; start it (.ci/run does) or point STRATUS_TEST_POSTGRES_URL at one`);
  });
}

// Every provider gets a schema of its own, dropped at the end: runs never see each other's keys.
const schemas: string[] = [];
const newSchema = (): string => {
  const s = `stratus_test_${process.pid}_${randomBytes(4).toString("hex")}`;
  schemas.push(s);
  return s;
};
after(async () => {
  if (problem !== null || schemas.length === 0) return;
  const { default: pg } = await import("pg");
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  try {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await c.end();
  }
});

kvStoreSuite(
  "PostgresStateProvider",
  (clock) => new PostgresStateProvider({ url: URL, schema: newSchema(), sql: new SqliteStateProvider({ dir: null }), clock }),
  {
    skip,
  },
);

test("PostgresStateProvider: two providers on one schema (two nodes of a cluster) share KV; another schema is apart", { skip }, async () => {
  const schema = newSchema();
  const a = new PostgresStateProvider({ url: URL, schema, sql: new SqliteStateProvider({ dir: null }) });
  const b = new PostgresStateProvider({ url: URL, schema, sql: new SqliteStateProvider({ dir: null }) });
  const other = new PostgresStateProvider({ url: URL, schema: newSchema(), sql: new SqliteStateProvider({ dir: null }) });
  try {
    // Both create the schema and table at once: one waits for the other.
    await Promise.all([a.kv("svc", "KV").put("k", new TextEncoder().encode("from a")), b.kv("svc", "KV").put("j", new TextEncoder().encode("from b"))]);
    assert.equal(new TextDecoder().decode((await b.kv("svc", "KV").get("k"))?.value), "from a");
    assert.deepEqual(
      (await a.kv("svc", "KV").list({})).keys.map((k) => k.name),
      ["j", "k"],
    );
    assert.equal(await other.kv("svc", "KV").get("k"), null);
  } finally {
    await Promise.all([a.close(), b.close(), other.close()]);
  }
});

test("PostgresStateProvider: a server that does not answer fails the call with STRATUS_E_KV_BACKEND, and the next call tries again", async () => {
  // Port 1 on loopback: nothing listens, the connection is refused at once.
  const p = new PostgresStateProvider({ url: "postgres://postgres@127.0.0.1:1/test", schema: "unreachable", sql: new SqliteStateProvider({ dir: null }) });
  try {
    await assert.rejects(
      () => p.kv("svc", "KV").get("k"),
      (e: { code?: string; message?: string }) => e.code === "STRATUS_E_KV_BACKEND" && /PostgreSQL/.test(e.message ?? ""),
    );
    await assert.rejects(() => p.kv("svc", "KV").put("k", new Uint8Array([1])), { code: "STRATUS_E_KV_BACKEND" });
  } finally {
    await p.close();
  }
});

test("PostgresStateProvider: a schema name that could escape its quotes is refused", () => {
  assert.throws(() => new PostgresStateProvider({ url: URL, schema: 'x"; DROP TABLE y; --', sql: new SqliteStateProvider({ dir: null }) }), {
    code: "STRATUS_E_CLI_USAGE",
  });
});
