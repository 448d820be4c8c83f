// The state interfaces against the embedded backend: the shared conformance suites, then what only
// SQLite does (its SQL policy, quota, executor process, files).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { kvStoreSuite, sqlDatabaseSuite, type MakeStateProvider } from "./conformance.ts";
import { SqliteStateProvider, type StateProvider } from "./index.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
  dirs.push(d);
  return d;
};

// The conformance suites every backend runs (conformance.ts), here against the embedded one in
// each of its shapes: in memory, files with SQL in an executor process, files with SQL inline.
const embedded: [string, MakeStateProvider][] = [
  ["SqliteStateProvider (memory)", (clock) => new SqliteStateProvider({ dir: null, clock })],
  ["SqliteStateProvider (files)", (clock) => new SqliteStateProvider({ dir: tempDir(), clock })],
];
for (const [name, make] of embedded) kvStoreSuite(name, make);
sqlDatabaseSuite("SqliteStateProvider (memory)", (clock) => new SqliteStateProvider({ dir: null, clock }));
sqlDatabaseSuite("SqliteStateProvider (files, executor process)", (clock) => new SqliteStateProvider({ dir: tempDir(), clock }));
sqlDatabaseSuite("SqliteStateProvider (files, inline)", (clock) => new SqliteStateProvider({ dir: tempDir(), clock, sql: "inline" }));

test("file-backed state survives a restart", async () => {
  const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
  dirs.push(d);
  const p1 = new SqliteStateProvider({ dir: d });
  await p1.kv("s", "KV").put("k", enc("kept"));
  await p1.sql("s", "DB").exec("CREATE TABLE t (x); INSERT INTO t VALUES (42)");
  await p1.close();
  const p2 = new SqliteStateProvider({ dir: d });
  assert.equal(dec((await p2.kv("s", "KV").get("k"))?.value), "kept");
  const r = await p2.sql("s", "DB").query("SELECT x FROM t", [], "all");
  assert.ok("results" in r && r.results[0]?.["x"] === 42);
  await p2.close();
});

const LIMITS = { timeoutMs: 10_000, storageBytes: 1024 * 1024 * 1024 };
type Denied = { code: string; message: string };
const deniedFor = (what: RegExp) => (e: Denied) => e.code === "STRATUS_E_SQL_DENIED" && what.test(e.message);

const sqlModes: { name: string; make: (dir: string) => StateProvider }[] = [
  { name: "executor process", make: (dir) => new SqliteStateProvider({ dir }) },
  { name: "inline", make: (dir) => new SqliteStateProvider({ dir, sql: "inline" }) },
];

for (const mode of sqlModes) {
  describe(`SQL policy (${mode.name}): a service's database is exactly that database`, () => {
    test("ATTACH, VACUUM INTO and file: URIs are denied, in every call shape, and create no file", async () => {
      const dir = tempDir();
      const p = mode.make(dir);
      await p.sql("other", "DB").exec("CREATE TABLE secrets (s); INSERT INTO secrets VALUES ('theirs')");
      const theirs = join(dir, "other", "DB.sql.sqlite");
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (x)");
      const outside = join(dir, "made-by-attacker.sqlite");
      await assert.rejects(() => db.exec(`ATTACH DATABASE '${theirs}' AS o`), deniedFor(/ATTACH/));
      await assert.rejects(() => db.query(`ATTACH 'file:${outside}?mode=rwc' AS x`, [], "run"), deniedFor(/ATTACH/));
      await assert.rejects(() => db.query("ATTACH ? AS x", [theirs], "run"), deniedFor(/ATTACH/));
      await assert.rejects(() => db.exec(`VACUUM INTO '${outside}'`), deniedFor(/VACUUM INTO/));
      await assert.rejects(() => db.exec(`SELECT 1; ATTACH '${theirs}' AS o; SELECT * FROM o.secrets`), deniedFor(/ATTACH/));
      await assert.rejects(
        () =>
          db.batch([
            ["INSERT INTO t VALUES (1)", []],
            [`ATTACH '${theirs}' AS o`, []],
          ]),
        deniedFor(/ATTACH/),
      );
      await assert.rejects(() => db.exec("ATTACH ':memory:' AS m"), deniedFor(/ATTACH/));
      await assert.rejects(() => db.exec("DETACH main"), deniedFor(/DETACH/));
      assert.equal(existsSync(outside), false);
      const n = await db.query("SELECT count(*) AS n FROM t", [], "all");
      assert.ok("results" in n && n.results[0]?.["n"] === 0, "the batch with a denied statement wrote nothing");
      // The neighbour's data is untouched and still its own.
      const r = await p.sql("other", "DB").query("SELECT s FROM secrets", [], "all");
      assert.ok("results" in r && r.results[0]?.["s"] === "theirs");
      await p.close();
    });

    test("pragmas outside the allow-list are denied; harmless ones work", async () => {
      const p = mode.make(tempDir());
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, x)");
      for (const bad of [
        "PRAGMA writable_schema = 1",
        "PRAGMA max_page_count = 4294967294",
        "PRAGMA main.max_page_count = 4294967294",
        "PRAGMA page_size = 65536",
        "PRAGMA journal_mode = DELETE",
        "PRAGMA database_list",
        "PRAGMA temp_store_directory = '/tmp'",
        "PRAGMA hard_heap_limit = 0",
        "PRAGMA cache_size = -2000000",
        "PRAGMA locking_mode = EXCLUSIVE",
        "PRAGMA trusted_schema = 1",
        "SELECT * FROM pragma_database_list",
      ]) {
        await assert.rejects(() => db.exec(bad), deniedFor(/PRAGMA|pragma/), bad);
      }
      await db.exec("PRAGMA user_version = 7");
      const v = await db.query("PRAGMA user_version", [], "all");
      assert.ok("results" in v && v.results[0]?.["user_version"] === 7);
      const info = await db.query("SELECT name FROM pragma_table_info('t')", [], "raw");
      assert.ok("rows" in info && info.rows.length === 2);
      await db.exec("PRAGMA foreign_keys = ON; PRAGMA integrity_check; PRAGMA table_info(t); PRAGMA page_count; PRAGMA max_page_count");
      await p.close();
    });

    test("extensions, schema writes and denied SQL hidden in triggers and views are refused", async () => {
      const p = mode.make(tempDir());
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (x); CREATE TABLE log (y)");
      await assert.rejects(() => db.query("SELECT load_extension('/tmp/evil')", [], "all"), deniedFor(/load_extension/));
      await assert.rejects(() => db.exec("UPDATE sqlite_master SET sql = 'x'"), { code: "STRATUS_E_SQL" });
      await assert.rejects(() => db.exec("CREATE VIRTUAL TABLE f USING fts3tokenize(simple)"), deniedFor(/VIRTUAL TABLE/));
      await db.exec("CREATE TRIGGER tr AFTER INSERT ON t BEGIN INSERT INTO log SELECT load_extension('/tmp/evil'); END");
      await assert.rejects(() => db.query("INSERT INTO t VALUES (1)", [], "run"), deniedFor(/load_extension/));
      await db.exec("CREATE VIEW v AS SELECT * FROM pragma_database_list");
      await assert.rejects(() => db.query("SELECT * FROM v", [], "all"), deniedFor(/database_list/));
      // What a service legitimately does still works.
      await db.exec("CREATE VIRTUAL TABLE docs USING fts5(body); INSERT INTO docs VALUES ('hello world'); VACUUM");
      const hit = await db.query("SELECT body FROM docs WHERE docs MATCH 'hello'", [], "all");
      assert.ok("results" in hit && hit.results.length === 1);
      await db.exec("CREATE TEMP TABLE scratch (z); INSERT INTO scratch VALUES (1)");
      await p.close();
    });

    test("a result too large to hand to a function is refused, not built", async () => {
      const p = mode.make(tempDir());
      const db = p.sql("svc", "DB");
      await assert.rejects(
        () => db.query("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 100) SELECT randomblob(1048576) AS b FROM c", [], "all"),
        (e: Denied) => e.code === "STRATUS_E_SQL" && /is over 64 MiB/.test(e.message),
      );
      const ok = await db.query("SELECT 1 AS n", [], "all");
      assert.ok("results" in ok && ok.results[0]?.["n"] === 1);
      await p.close();
    });
  });

  describe(`storage quota (${mode.name})`, () => {
    test("one quota spans a service's KV and SQL bindings; past it writes fail and nothing stored is lost", async () => {
      const dir = tempDir();
      const p = mode.make(dir);
      const limits = { ...LIMITS, storageBytes: 512 * 1024 };
      const db = p.sql("svc", "DB", limits);
      const kv = p.kv("svc", "KV", limits);
      await db.exec("CREATE TABLE blobs (b BLOB)");
      await kv.put("first", new Uint8Array(64 * 1024));
      let stored = 0;
      let err: { code?: string; message?: string } | null = null;
      for (let i = 0; i < 20 && !err; i++) {
        try {
          await db.query("INSERT INTO blobs VALUES (randomblob(32768))", [], "run");
          stored++;
        } catch (e) {
          err = e as { code: string; message: string };
        }
      }
      assert.equal(err?.code, "STRATUS_E_STORAGE_QUOTA");
      assert.match(err?.message ?? "", /512KB/);
      assert.match(err?.message ?? "", /services\.svc\.limits\.storage/);
      assert.ok(stored > 0);
      const count = await db.query("SELECT count(*) AS n FROM blobs", [], "all");
      assert.ok("results" in count && count.results[0]?.["n"] === stored, "every row written before the quota is kept");
      // A runaway statement is stopped by the same quota, not only a loop of small ones.
      await assert.rejects(
        () => db.exec("WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c LIMIT 1000) INSERT INTO blobs SELECT randomblob(4096) FROM c"),
        { code: "STRATUS_E_STORAGE_QUOTA" },
      );
      // The SQL file now holds most of the quota: the KV binding of the same service is refused too.
      await assert.rejects(() => kv.put("big", new Uint8Array(256 * 1024)), { code: "STRATUS_E_STORAGE_QUOTA" });
      assert.equal((await kv.get("first"))?.value.byteLength, 64 * 1024);
      // Another service has a quota of its own.
      await p.kv("neighbour", "KV", limits).put("big", new Uint8Array(256 * 1024));
      // Deleting is always allowed, and a raised quota applies from the next write.
      await db.exec("DELETE FROM blobs");
      await kv.delete("first");
      await p.sql("svc", "DB", { ...limits, storageBytes: 4 * 1024 * 1024 }).query("INSERT INTO blobs VALUES (randomblob(600000))", [], "run");
      await p.close();
    });
  });
}

test("data files and directories are private to the owner (0600 / 0700)", { skip: process.platform === "win32" ? "no POSIX modes" : false }, async () => {
  const dir = tempDir();
  const p = new SqliteStateProvider({ dir: join(dir, "state") });
  await p.kv("svc", "KV").put("k", enc("v"));
  await p.sql("svc", "DB").exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  const seen: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      const mode = statSync(full).mode & 0o777;
      seen.push(e.name);
      assert.equal(mode, e.isDirectory() ? 0o700 : 0o600, `${full} is ${mode.toString(8)}`);
      if (e.isDirectory()) walk(full);
    }
  };
  assert.equal(statSync(join(dir, "state")).mode & 0o777, 0o700);
  walk(join(dir, "state"));
  assert.ok(seen.includes("KV.kv.sqlite-wal") && seen.includes("DB.sql.sqlite"), seen.join(", "));
  await p.close();
});

describe("SQL limits.timeout (executor process)", () => {
  const RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

  test("a runaway statement is stopped at limits.timeout; the next call gets a fresh executor", async () => {
    const p = new SqliteStateProvider({ dir: tempDir() });
    await p.sql("svc", "DB", LIMITS).exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    // The service's limits as a deploy sets them: they apply from the next call.
    const db = p.sql("svc", "DB", { ...LIMITS, timeoutMs: 300 });
    await assert.rejects(
      () => db.query(RUNAWAY, [], "all"),
      (e: Denied) => e.code === "STRATUS_E_SQL_TIMEOUT" && /limits\.timeout \(300ms\)/.test(e.message),
    );
    const r = await p.sql("svc", "DB", LIMITS).query("SELECT x FROM t", [], "raw");
    assert.ok("rows" in r);
    assert.deepEqual(r.rows, [[1]]);
    await p.close();
  });

  test("another service's SQL never waits behind a runaway statement", async () => {
    const p = new SqliteStateProvider({ dir: tempDir() });
    const slow = p.sql("hog", "DB", { ...LIMITS, timeoutMs: 60_000 });
    await slow.exec("SELECT 1");
    let runawaySettled = false;
    const runaway = slow.query(RUNAWAY, [], "all").finally(() => (runawaySettled = true));
    const neighbour = p.sql("neighbour", "DB", LIMITS);
    await neighbour.exec("CREATE TABLE t (x); INSERT INTO t VALUES (5)");
    const r = await neighbour.query("SELECT x FROM t", [], "raw");
    assert.ok("rows" in r);
    assert.deepEqual(r.rows, [[5]]);
    assert.equal(runawaySettled, false, "the neighbour answered while the runaway statement still ran");
    await p.close();
    await assert.rejects(runaway, { code: "STRATUS_E_SQL" });
  });
});
