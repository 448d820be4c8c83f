// One suite per interface, run against every backend (only SQLite so far: file and in-memory).
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { KV_LIMITS, SqliteStateProvider, type StateProvider } from "./index.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const backends: { name: string; make: (clock: () => number) => StateProvider }[] = [
  { name: "SqliteStateProvider (memory)", make: (clock) => new SqliteStateProvider({ dir: null, clock }) },
  {
    name: "SqliteStateProvider (files)",
    make: (clock) => {
      const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
      dirs.push(d);
      return new SqliteStateProvider({ dir: d, clock });
    },
  },
];

for (const backend of backends) {
  describe(`KV: ${backend.name}`, () => {
    test("put, get, delete, metadata", async () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      assert.equal(await kv.get("a"), null);
      await kv.put("a", enc("1"), { metadata: '{"m":1}' });
      assert.equal(dec((await kv.get("a"))?.value), "1");
      assert.equal((await kv.get("a"))?.metadata, '{"m":1}');
      await kv.put("a", enc("2"));
      assert.equal(dec((await kv.get("a"))?.value), "2");
      await kv.delete("a");
      assert.equal(await kv.get("a"), null);
      p.close();
    });

    test("namespaces are private per service and binding", async () => {
      const p = backend.make(Date.now);
      await p.kv("orders", "KV").put("k", enc("orders"));
      assert.equal(await p.kv("payments", "KV").get("k"), null);
      assert.equal(await p.kv("orders", "OTHER").get("k"), null);
      p.close();
    });

    test("list by prefix with cursor pagination", async () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      for (let i = 0; i < 25; i++) await kv.put(`user:${String(i).padStart(2, "0")}`, enc("x"));
      await kv.put("other", enc("x"));
      const names: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await kv.list({ prefix: "user:", cursor: cursor ?? null, limit: 10 });
        names.push(...page.keys.map((k) => k.name));
        cursor = page.cursor;
        pages++;
        assert.equal(page.list_complete, cursor === undefined);
      } while (cursor);
      assert.equal(pages, 3);
      assert.equal(names.length, 25);
      assert.deepEqual(names, [...names].sort());
      assert.ok(!names.includes("other"));
      p.close();
    });

    test("expirationTtl expires keys on the injected clock", async () => {
      let now = 1_000_000;
      const p = backend.make(() => now);
      const kv = p.kv("svc", "KV");
      await kv.put("t", enc("v"), { expirationTtl: 60 });
      assert.equal(dec((await kv.get("t"))?.value), "v");
      assert.equal((await kv.list({})).keys[0]?.expiration, Math.floor((1_000_000 + 60_000) / 1000));
      now += 60_001;
      assert.equal(await kv.get("t"), null);
      assert.equal((await kv.list({})).keys.length, 0);
      p.close();
    });

    test("expirations that would mean never, or expire at once, are refused; a lone surrogate never names a key", async () => {
      const now = 1_700_000_000_000;
      const p = backend.make(() => now);
      const kv = p.kv("svc", "KV");
      for (const expirationTtl of [Number.NaN, Number.POSITIVE_INFINITY, 1e308, 59, 0]) {
        await assert.rejects(
          () => kv.put("k", enc("v"), { expirationTtl }),
          (e: { code?: string; message?: string }) => e.code === "STRATUS_E_KV_ARGUMENT" && e.message!.includes(`got ${String(expirationTtl)}`),
        );
      }
      for (const expiration of [Number.NaN, Number.POSITIVE_INFINITY, 1e308, now / 1000 + 30]) {
        await assert.rejects(() => kv.put("k", enc("v"), { expiration }), { code: "STRATUS_E_KV_ARGUMENT" });
      }
      await kv.put("k", enc("v"), { expiration: now / 1000 + 60 });
      assert.equal((await kv.list({})).keys[0]?.expiration, now / 1000 + 60);
      for (const key of ["\ud800", "a\udfff", "\udc00\ud800"]) {
        await assert.rejects(() => kv.put(key, enc("x")), { code: "STRATUS_E_KV_ARGUMENT" });
        await assert.rejects(() => kv.get(key), { code: "STRATUS_E_KV_ARGUMENT" });
      }
      await kv.put("\ufffd", enc("replacement"));
      await kv.put("\ud83d\ude00", enc("emoji"));
      assert.equal(dec((await kv.get("\ud83d\ude00"))?.value), "emoji");
      assert.deepEqual((await kv.list({})).keys.map((k) => k.name).sort(), ["k", "\ufffd", "\ud83d\ude00"].sort());
      p.close();
    });

    test("limits and bad arguments get coded errors", async () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      await assert.rejects(() => kv.put("x".repeat(KV_LIMITS.maxKeyBytes + 1), enc("v")), { code: "STRATUS_E_KV_LIMIT" });
      await assert.rejects(() => kv.put("big", new Uint8Array(KV_LIMITS.maxValueBytes + 1)), { code: "STRATUS_E_KV_LIMIT" });
      await assert.rejects(() => kv.put("", enc("v")), { code: "STRATUS_E_KV_ARGUMENT" });
      await assert.rejects(() => kv.put("k", enc("v"), { expirationTtl: -5 }), { code: "STRATUS_E_KV_ARGUMENT" });
      await assert.rejects(() => kv.list({ limit: 5000 }), { code: "STRATUS_E_KV_ARGUMENT" });
      await kv.put("fine", enc("still works"));
      assert.equal(dec((await kv.get("fine"))?.value), "still works");
      p.close();
    });
  });

  describe(`SQL: ${backend.name}`, () => {
    test("statements with parameters, D1-shaped results", async () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
      const ins = await db.query("INSERT INTO t (name, data) VALUES (?, ?)", ["ada", new Uint8Array([1, 2])], "run");
      assert.ok("meta" in ins && ins.meta.changes === 1 && ins.meta.last_row_id === 1);
      const all = await db.query("SELECT * FROM t WHERE name = ?", ["ada"], "all");
      assert.ok("results" in all);
      assert.equal(all.results[0]?.["name"], "ada");
      assert.deepEqual([...(all.results[0]?.["data"] as Uint8Array)], [1, 2]);
      const raw = await db.query("SELECT id, name FROM t", [], "raw");
      assert.ok("rows" in raw);
      assert.deepEqual(raw.columns, ["id", "name"]);
      assert.deepEqual(raw.rows, [[1, "ada"]]);
      p.close();
    });

    test("batch is one transaction: a failing statement writes nothing", async () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
      await assert.rejects(
        () =>
          db.batch([
            ["INSERT INTO t (name) VALUES (?)", ["a"]],
            ["INSERT INTO t (name) VALUES (?)", [null]],
          ]),
        (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && /batch statement 2 of 2 failed, nothing was written/.test(e.message),
      );
      const count = await db.query("SELECT count(*) AS n FROM t", [], "all");
      assert.ok("results" in count && count.results[0]?.["n"] === 0);
      await db.batch([
        ["INSERT INTO t (name) VALUES (?)", ["a"]],
        ["INSERT INTO t (name) VALUES (?)", ["b"]],
      ]);
      const after2 = await db.query("SELECT count(*) AS n FROM t", [], "all");
      assert.ok("results" in after2 && after2.results[0]?.["n"] === 2);
      p.close();
    });

    test("SQL errors carry STRATUS_E_SQL and the statement", async () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      await assert.rejects(
        () => db.query("SELEC 1", [], "all"),
        (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && e.message.includes("SELEC 1"),
      );
      await assert.rejects(() => db.exec("CREATE TABLE"), { code: "STRATUS_E_SQL" });
      p.close();
    });

    test("databases are private per service", async () => {
      const p = backend.make(Date.now);
      await p.sql("a", "DB").exec("CREATE TABLE only_a (x)");
      await assert.rejects(() => p.sql("b", "DB").query("SELECT * FROM only_a", [], "all"), { code: "STRATUS_E_SQL" });
      p.close();
    });
  });
}

test("file-backed state survives a restart", async () => {
  const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
  dirs.push(d);
  const p1 = new SqliteStateProvider({ dir: d });
  await p1.kv("s", "KV").put("k", enc("kept"));
  await p1.sql("s", "DB").exec("CREATE TABLE t (x); INSERT INTO t VALUES (42)");
  p1.close();
  const p2 = new SqliteStateProvider({ dir: d });
  assert.equal(dec((await p2.kv("s", "KV").get("k"))?.value), "kept");
  const r = await p2.sql("s", "DB").query("SELECT x FROM t", [], "all");
  assert.ok("results" in r && r.results[0]?.["x"] === 42);
  p2.close();
});

const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
  dirs.push(d);
  return d;
};
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
      p.close();
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
      p.close();
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
      p.close();
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
      p.close();
    });

    test("a transaction never outlives the call that opened it", async () => {
      const p = mode.make(tempDir());
      const db = p.sql("svc", "DB");
      await db.exec("CREATE TABLE t (x)");
      await assert.rejects(
        () => db.exec("BEGIN; INSERT INTO t VALUES (1)"),
        (e: Denied) => e.code === "STRATUS_E_SQL" && /rolled back/.test(e.message),
      );
      await assert.rejects(
        () => db.query("BEGIN", [], "run"),
        (e: Denied) => e.code === "STRATUS_E_SQL" && /batch\(\)/.test(e.message),
      );
      await db.exec("INSERT INTO t VALUES (2)");
      const r = await db.query("SELECT x FROM t", [], "raw");
      assert.ok("rows" in r);
      assert.deepEqual(r.rows, [[2]]);
      await db.exec("BEGIN; INSERT INTO t VALUES (3); COMMIT");
      p.close();
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
      p.close();
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
  p.close();
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
    p.close();
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
    p.close();
    await assert.rejects(runaway, { code: "STRATUS_E_SQL" });
  });
});
