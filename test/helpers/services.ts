/**
 * The external servers the backend suites run against (PostgreSQL, NATS). Each is looked for once;
 * when it does not answer, a suite is skipped with the reason, or, under STRATUS_REQUIRE_SERVICES=1
 * (CI), a failing test says which server is missing instead.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";

const required = process.env["STRATUS_REQUIRE_SERVICES"] === "1";

/** A server for one test file: where it is, the skip reason for its suites (false: run them). */
export interface TestServer {
  readonly url: string;
  readonly skip: string | false;
}

function gate(what: string, url: string, envVar: string, problem: string | null): TestServer {
  if (problem !== null && required) {
    test(`${what} is reachable (STRATUS_REQUIRE_SERVICES=1)`, () => {
      assert.fail(`${what} is not reachable at ${url}: ${problem}; start it (.ci/run does) or point ${envVar} at one`);
    });
  }
  return {
    url,
    skip:
      problem !== null && !required
        ? `${what} is not reachable at ${url} (${problem}); start it, set ${envVar}, or set STRATUS_REQUIRE_SERVICES=1 to fail instead of skipping`
        : false,
  };
}

/**
 * PostgreSQL at STRATUS_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test), with
 * `schema()` making a schema name of its own for each call; those schemas are dropped at the end.
 */
export async function testPostgres(): Promise<TestServer & { schema(): string }> {
  const url = process.env["STRATUS_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
  const { default: pg } = await import("pg");
  let problem: string | null = null;
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query("SELECT 1");
  } catch (err) {
    problem = err instanceof Error ? err.message || err.name : String(err);
  } finally {
    await c.end().catch(() => undefined);
  }
  const schemas: string[] = [];
  after(async () => {
    if (problem !== null || schemas.length === 0) return;
    const d = new pg.Client({ connectionString: url });
    await d.connect();
    try {
      for (const s of schemas) await d.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
    } finally {
      await d.end();
    }
  });
  return {
    ...gate("PostgreSQL", url, "STRATUS_TEST_POSTGRES_URL", problem),
    schema: () => {
      const s = `stratus_test_${process.pid}_${randomBytes(4).toString("hex")}`;
      schemas.push(s);
      return s;
    },
  };
}

/**
 * NATS with JetStream at STRATUS_TEST_NATS_URL (default nats://127.0.0.1:4222), with `cluster()`
 * making a cluster name of its own for each call; their coordination buckets are deleted at the end.
 */
export async function testNats(): Promise<TestServer & { cluster(): string }> {
  const url = process.env["STRATUS_TEST_NATS_URL"] ?? "nats://127.0.0.1:4222";
  const [{ connect }, { jetstreamManager }] = await Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]);
  let problem: string | null = null;
  try {
    const nc = await connect({ servers: url, timeout: 3000 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
    } finally {
      await nc.close();
    }
  } catch (err) {
    problem = err instanceof Error ? err.message || err.name : String(err);
  }
  const clusters: string[] = [];
  after(async () => {
    if (problem !== null || clusters.length === 0) return;
    const nc = await connect({ servers: url });
    try {
      const jsm = await jetstreamManager(nc);
      for (const c of clusters) await jsm.streams.delete(`KV_stratus-${c}-coord`).catch(() => false);
    } finally {
      await nc.close();
    }
  });
  return {
    ...gate("NATS with JetStream", url, "STRATUS_TEST_NATS_URL", problem),
    cluster: () => {
      const c = `test-${process.pid}-${randomBytes(4).toString("hex")}`;
      clusters.push(c);
      return c;
    },
  };
}
