// One suite per interface, run against every backend (only SQLite so far: file and in-memory).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
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
    test("put, get, delete, metadata", () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      assert.equal(kv.get("a"), null);
      kv.put("a", enc("1"), { metadata: '{"m":1}' });
      assert.equal(dec(kv.get("a")?.value), "1");
      assert.equal(kv.get("a")?.metadata, '{"m":1}');
      kv.put("a", enc("2"));
      assert.equal(dec(kv.get("a")?.value), "2");
      kv.delete("a");
      assert.equal(kv.get("a"), null);
      p.close();
    });

    test("namespaces are private per service and binding", () => {
      const p = backend.make(Date.now);
      p.kv("orders", "KV").put("k", enc("orders"));
      assert.equal(p.kv("payments", "KV").get("k"), null);
      assert.equal(p.kv("orders", "OTHER").get("k"), null);
      p.close();
    });

    test("list by prefix with cursor pagination", () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      for (let i = 0; i < 25; i++) kv.put(`user:${String(i).padStart(2, "0")}`, enc("x"));
      kv.put("other", enc("x"));
      const names: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = kv.list({ prefix: "user:", cursor: cursor ?? null, limit: 10 });
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

    test("expirationTtl expires keys on the injected clock", () => {
      let now = 1_000_000;
      const p = backend.make(() => now);
      const kv = p.kv("svc", "KV");
      kv.put("t", enc("v"), { expirationTtl: 60 });
      assert.equal(dec(kv.get("t")?.value), "v");
      assert.equal(kv.list({}).keys[0]?.expiration, Math.floor((1_000_000 + 60_000) / 1000));
      now += 60_001;
      assert.equal(kv.get("t"), null);
      assert.equal(kv.list({}).keys.length, 0);
      p.close();
    });

    test("limits and bad arguments get coded errors", () => {
      const p = backend.make(Date.now);
      const kv = p.kv("svc", "KV");
      assert.throws(() => kv.put("x".repeat(KV_LIMITS.maxKeyBytes + 1), enc("v")), { code: "STRATUS_E_KV_LIMIT" });
      assert.throws(() => kv.put("big", new Uint8Array(KV_LIMITS.maxValueBytes + 1)), { code: "STRATUS_E_KV_LIMIT" });
      assert.throws(() => kv.put("", enc("v")), { code: "STRATUS_E_KV_ARGUMENT" });
      assert.throws(() => kv.put("k", enc("v"), { expirationTtl: -5 }), { code: "STRATUS_E_KV_ARGUMENT" });
      assert.throws(() => kv.list({ limit: 5000 }), { code: "STRATUS_E_KV_ARGUMENT" });
      kv.put("fine", enc("still works"));
      assert.equal(dec(kv.get("fine")?.value), "still works");
      p.close();
    });
  });

  describe(`SQL: ${backend.name}`, () => {
    test("statements with parameters, D1-shaped results", () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, data BLOB)");
      const ins = db.query("INSERT INTO t (name, data) VALUES (?, ?)", ["ada", new Uint8Array([1, 2])], "run");
      assert.ok("meta" in ins && ins.meta.changes === 1 && ins.meta.last_row_id === 1);
      const all = db.query("SELECT * FROM t WHERE name = ?", ["ada"], "all");
      assert.ok("results" in all);
      assert.equal(all.results[0]?.["name"], "ada");
      assert.deepEqual([...(all.results[0]?.["data"] as Uint8Array)], [1, 2]);
      const raw = db.query("SELECT id, name FROM t", [], "raw");
      assert.ok("rows" in raw);
      assert.deepEqual(raw.columns, ["id", "name"]);
      assert.deepEqual(raw.rows, [[1, "ada"]]);
      p.close();
    });

    test("batch is one transaction: a failing statement writes nothing", () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
      assert.throws(
        () =>
          db.batch([
            ["INSERT INTO t (name) VALUES (?)", ["a"]],
            ["INSERT INTO t (name) VALUES (?)", [null]],
          ]),
        (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && /batch statement 2 of 2 failed, nothing was written/.test(e.message),
      );
      const count = db.query("SELECT count(*) AS n FROM t", [], "all");
      assert.ok("results" in count && count.results[0]?.["n"] === 0);
      db.batch([
        ["INSERT INTO t (name) VALUES (?)", ["a"]],
        ["INSERT INTO t (name) VALUES (?)", ["b"]],
      ]);
      const after2 = db.query("SELECT count(*) AS n FROM t", [], "all");
      assert.ok("results" in after2 && after2.results[0]?.["n"] === 2);
      p.close();
    });

    test("SQL errors carry STRATUS_E_SQL and the statement", () => {
      const p = backend.make(Date.now);
      const db = p.sql("svc", "DB");
      assert.throws(
        () => db.query("SELEC 1", [], "all"),
        (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && e.message.includes("SELEC 1"),
      );
      assert.throws(() => db.exec("CREATE TABLE"), { code: "STRATUS_E_SQL" });
      p.close();
    });

    test("databases are private per service", () => {
      const p = backend.make(Date.now);
      p.sql("a", "DB").exec("CREATE TABLE only_a (x)");
      assert.throws(() => p.sql("b", "DB").query("SELECT * FROM only_a", [], "all"), { code: "STRATUS_E_SQL" });
      p.close();
    });
  });
}

test("file-backed state survives a restart", () => {
  const d = mkdtempSync(join(tmpdir(), "stratus-state-"));
  dirs.push(d);
  const p1 = new SqliteStateProvider({ dir: d });
  p1.kv("s", "KV").put("k", enc("kept"));
  p1.sql("s", "DB").exec("CREATE TABLE t (x); INSERT INTO t VALUES (42)");
  p1.close();
  const p2 = new SqliteStateProvider({ dir: d });
  assert.equal(dec(p2.kv("s", "KV").get("k")?.value), "kept");
  const r = p2.sql("s", "DB").query("SELECT x FROM t", [], "all");
  assert.ok("results" in r && r.results[0]?.["x"] === 42);
  p2.close();
});
