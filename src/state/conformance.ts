/**
 * The conformance suites of the state interfaces, exported so that every backend runs the same
 * tests (the way undici's `cacheStoreTests` and Hono's router suite do): call
 * `kvStoreSuite(name, make)` and `sqlDatabaseSuite(name, make)` from a test file, with a factory
 * that returns a fresh, empty provider of that backend. What only one backend can do (SQLite's
 * SQL policy, its file modes, its executor process) is tested beside that backend instead.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { KV_LIMITS, type SqlDatabase, type SqlResult, type StateProvider } from "./interface.ts";

/**
 * Makes a fresh, empty provider whose KV expiry follows `clock` (epoch ms). Each call must give
 * namespaces no other call sees (a new directory, a new schema or key prefix).
 */
export type MakeStateProvider = (clock: () => number) => StateProvider | Promise<StateProvider>;

/** Options of the state suites. */
export interface StateSuiteOptions {
  /** Skip the whole suite, with the reason shown in the test report (a backend's server is not running). */
  skip?: string | false;
}

/** Options of sqlDatabaseSuite. */
export interface SqlSuiteOptions extends StateSuiteOptions {
  /** The column type of bytes in this engine's DDL (default "BLOB"; PostgreSQL: "BYTEA"). */
  blobType?: string;
}

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

/** Compares strings as their UTF-8 bytes (code point order), the order KV lists keys in. */
function utf8Order(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

async function withProvider(make: MakeStateProvider, clock: () => number, fn: (p: StateProvider) => Promise<void>): Promise<void> {
  const p = await make(clock);
  try {
    await fn(p);
  } finally {
    await p.close();
  }
}

/** Registers the KvStore conformance tests for one backend. */
export function kvStoreSuite(name: string, make: MakeStateProvider, opts: StateSuiteOptions = {}): void {
  describe(`KvStore conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    test("put, get, delete, metadata", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        assert.equal(await kv.get("a"), null);
        await kv.put("a", enc("1"), { metadata: '{"m":1}' });
        assert.equal(dec((await kv.get("a"))?.value), "1");
        assert.equal((await kv.get("a"))?.metadata, '{"m":1}');
        await kv.put("a", enc("2"));
        assert.equal(dec((await kv.get("a"))?.value), "2");
        assert.equal((await kv.get("a"))?.metadata, null, "a put without metadata clears it");
        await kv.delete("a");
        assert.equal(await kv.get("a"), null);
        await kv.delete("never-there");
      }));

    test("values are bytes, returned exactly (every byte value, the empty value)", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        const all = new Uint8Array(256).map((_, i) => i);
        await kv.put("bytes", all);
        assert.deepEqual([...((await kv.get("bytes"))?.value ?? [])], [...all]);
        await kv.put("empty", new Uint8Array(0));
        const empty = await kv.get("empty");
        assert.ok(empty !== null, "an empty value is a value, not a missing key");
        assert.equal(empty.value.byteLength, 0);
      }));

    test("namespaces are private per service and binding", () =>
      withProvider(make, Date.now, async (p) => {
        await p.kv("orders", "KV").put("k", enc("orders"));
        assert.equal(await p.kv("payments", "KV").get("k"), null);
        assert.equal(await p.kv("orders", "OTHER").get("k"), null);
        assert.deepEqual((await p.kv("payments", "KV").list({})).keys, []);
        assert.equal(dec((await p.kv("orders", "KV").get("k"))?.value), "orders");
      }));

    test("list by prefix with cursor pagination", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        for (let i = 0; i < 25; i++) await kv.put(`user:${String(i).padStart(2, "0")}`, enc("x"));
        await kv.put("other", enc("x"));
        await kv.put("user", enc("x"));
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
        assert.ok(!names.includes("other") && !names.includes("user"));
        const whole = await kv.list({});
        assert.equal(whole.keys.length, 27);
        assert.equal(whole.list_complete, true);
        assert.equal(whole.cursor, undefined);
      }));

    test("keys list in UTF-8 byte order, and a prefix matches literally (no wildcards)", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        const keys = ["b", "B", "a_1", "a%1", "ab", "a\\b", "é", "\ufffd", "\ud83d\ude00", "\uff01", "z"];
        for (const k of keys) await kv.put(k, enc(k));
        assert.deepEqual(
          (await kv.list({})).keys.map((k) => k.name),
          [...keys].sort(utf8Order),
        );
        assert.deepEqual(
          (await kv.list({ prefix: "a_" })).keys.map((k) => k.name),
          ["a_1"],
        );
        assert.deepEqual(
          (await kv.list({ prefix: "a%" })).keys.map((k) => k.name),
          ["a%1"],
        );
        assert.deepEqual(
          (await kv.list({ prefix: "a\\" })).keys.map((k) => k.name),
          ["a\\b"],
        );
        // Pages of one key at a time cross the astral/BMP boundary in the same order.
        const paged: string[] = [];
        let cursor: string | null = null;
        for (;;) {
          const page = await kv.list({ cursor, limit: 1 });
          paged.push(...page.keys.map((k) => k.name));
          if (page.list_complete) break;
          cursor = page.cursor ?? null;
        }
        assert.deepEqual(paged, [...keys].sort(utf8Order));
      }));

    test("list carries each key's expiration and parsed metadata", () =>
      withProvider(
        make,
        () => 1_700_000_000_000,
        async (p) => {
          const kv = p.kv("svc", "KV");
          await kv.put("m", enc("v"), { metadata: '{"tag":"x","n":[1,2]}', expirationTtl: 120 });
          await kv.put("plain", enc("v"));
          const { keys } = await kv.list({});
          assert.deepEqual(keys, [{ name: "m", expiration: 1_700_000_120, metadata: { tag: "x", n: [1, 2] } }, { name: "plain" }]);
        },
      ));

    test("expirationTtl expires keys on the injected clock", async () => {
      let now = 1_000_000;
      await withProvider(
        make,
        () => now,
        async (p) => {
          const kv = p.kv("svc", "KV");
          await kv.put("t", enc("v"), { expirationTtl: 60 });
          await kv.put("keep", enc("v"));
          assert.equal(dec((await kv.get("t"))?.value), "v");
          assert.equal((await kv.list({})).keys.find((k) => k.name === "t")?.expiration, Math.floor((1_000_000 + 60_000) / 1000));
          now += 60_001;
          assert.equal(await kv.get("t"), null);
          assert.deepEqual(
            (await kv.list({})).keys.map((k) => k.name),
            ["keep"],
          );
          await kv.put("t", enc("again"));
          assert.equal(dec((await kv.get("t"))?.value), "again", "an expired key can be written again");
        },
      );
    });

    test("expirations that would mean never, or expire at once, are refused; a lone surrogate never names a key", () => {
      const now = 1_700_000_000_000;
      return withProvider(
        make,
        () => now,
        async (p) => {
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
          await assert.rejects(() => kv.list({ prefix: "\ud800" }), { code: "STRATUS_E_KV_ARGUMENT" });
          await kv.put("\ufffd", enc("replacement"));
          await kv.put("\ud83d\ude00", enc("emoji"));
          assert.equal(dec((await kv.get("\ud83d\ude00"))?.value), "emoji");
          assert.deepEqual((await kv.list({})).keys.map((k) => k.name).sort(), ["k", "\ufffd", "\ud83d\ude00"].sort());
        },
      );
    });

    test("limits and bad arguments get coded errors, and write nothing", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        await assert.rejects(() => kv.put("x".repeat(KV_LIMITS.maxKeyBytes + 1), enc("v")), { code: "STRATUS_E_KV_LIMIT" });
        await kv.put("é".repeat(KV_LIMITS.maxKeyBytes / 2), enc("v"));
        await assert.rejects(
          () => kv.put("é".repeat(KV_LIMITS.maxKeyBytes / 2) + "x", enc("v")),
          { code: "STRATUS_E_KV_LIMIT" },
          "the key limit counts UTF-8 bytes",
        );
        await assert.rejects(() => kv.put("big", new Uint8Array(KV_LIMITS.maxValueBytes + 1)), { code: "STRATUS_E_KV_LIMIT" });
        await assert.rejects(() => kv.put("meta", enc("v"), { metadata: JSON.stringify("m".repeat(KV_LIMITS.maxMetadataBytes)) }), {
          code: "STRATUS_E_KV_LIMIT",
        });
        for (const key of ["", ".", ".."]) await assert.rejects(() => kv.put(key, enc("v")), { code: "STRATUS_E_KV_ARGUMENT" });
        await assert.rejects(() => kv.put("k", enc("v"), { expirationTtl: -5 }), { code: "STRATUS_E_KV_ARGUMENT" });
        await assert.rejects(() => kv.list({ limit: KV_LIMITS.maxListLimit + 1 }), { code: "STRATUS_E_KV_ARGUMENT" });
        await assert.rejects(() => kv.list({ limit: 0 }), { code: "STRATUS_E_KV_ARGUMENT" });
        assert.equal(await kv.get("big"), null);
        assert.equal(await kv.get("meta"), null);
        await kv.put("fine", enc("still works"));
        assert.equal(dec((await kv.get("fine"))?.value), "still works");
      }));

    test("concurrent writes to different keys all land", () =>
      withProvider(make, Date.now, async (p) => {
        const kv = p.kv("svc", "KV");
        await Promise.all(Array.from({ length: 50 }, (_, i) => kv.put(`k${String(i).padStart(2, "0")}`, enc(String(i)))));
        const { keys } = await kv.list({});
        assert.equal(keys.length, 50);
        assert.equal(dec((await kv.get("k49"))?.value), "49");
      }));
  });
}

function rows(r: SqlResult | { columns: string[]; rows: unknown[][] }): Record<string, unknown>[] {
  assert.ok("results" in r, "a D1 result with results");
  // Compared as plain objects: a driver may build rows without a prototype.
  return r.results.map((row) => ({ ...row }));
}

async function count(db: SqlDatabase, table: string): Promise<number> {
  return Number(rows(await db.query(`SELECT count(*) AS n FROM ${table}`, [], "all"))[0]?.["n"]);
}

/**
 * Registers the SqlDatabase conformance tests for one backend: the D1-shaped API (`?`
 * placeholders, all/first/run/raw results, batch as one transaction), in SQL that SQLite and
 * PostgreSQL both accept.
 */
export function sqlDatabaseSuite(name: string, make: MakeStateProvider, opts: SqlSuiteOptions = {}): void {
  const blob = opts.blobType ?? "BLOB";
  describe(`SqlDatabase conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    test("statements with ? parameters, D1-shaped results", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        await db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, score REAL, data ${blob})`);
        const ins = await db.query("INSERT INTO t (id, name, score, data) VALUES (?, ?, ?, ?)", [1, "ada", 2.5, new Uint8Array([1, 2, 255])], "run");
        assert.ok("meta" in ins);
        assert.equal(ins.success, true);
        assert.equal(ins.meta.changes, 1);
        assert.equal(ins.meta.rows_written, 1);
        await db.query("INSERT INTO t (id, name, score, data) VALUES (?, ?, ?, ?)", [2, null, null, null], "run");
        const all = rows(await db.query("SELECT id, name, score, data FROM t WHERE name = ?", ["ada"], "all"));
        assert.equal(all.length, 1);
        assert.equal(all[0]?.["id"], 1);
        assert.equal(all[0]?.["name"], "ada");
        assert.equal(all[0]?.["score"], 2.5);
        const data = all[0]?.["data"];
        assert.ok(data instanceof Uint8Array, "bytes come back as bytes");
        assert.deepEqual([...data], [1, 2, 255]);
        const nulls = rows(await db.query("SELECT name, score, data FROM t WHERE id = ?", [2], "all"));
        assert.deepEqual(nulls, [{ name: null, score: null, data: null }]);
        const first = rows(await db.query("SELECT id FROM t ORDER BY id", [], "first"));
        assert.equal(first[0]?.["id"], 1, "first: the first row leads");
        const raw = await db.query("SELECT id, name FROM t ORDER BY id", [], "raw");
        assert.ok("rows" in raw);
        assert.deepEqual(raw.columns, ["id", "name"]);
        assert.deepEqual(raw.rows, [
          [1, "ada"],
          [2, null],
        ]);
        const upd = await db.query("UPDATE t SET score = ? WHERE id > ?", [1, 0], "run");
        assert.ok("meta" in upd && upd.meta.changes === 2);
      }));

    test("a ? inside a string literal is text, not a parameter", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        const r = rows(await db.query("SELECT '?' AS q, 'it''s ?' AS s, ? AS v", ["x"], "all"));
        assert.deepEqual(r, [{ q: "?", s: "it's ?", v: "x" }]);
      }));

    test("batch is one transaction: a failing statement writes nothing", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL)");
        await assert.rejects(
          () =>
            db.batch([
              ["INSERT INTO t (id, name) VALUES (?, ?)", [1, "a"]],
              ["INSERT INTO t (id, name) VALUES (?, ?)", [2, null]],
            ]),
          (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && /batch statement 2 of 2 failed, nothing was written/.test(e.message),
        );
        assert.equal(await count(db, "t"), 0);
        const out = await db.batch([
          ["INSERT INTO t (id, name) VALUES (?, ?)", [1, "a"]],
          ["INSERT INTO t (id, name) VALUES (?, ?)", [2, "b"]],
          ["SELECT name FROM t ORDER BY id", []],
        ]);
        assert.equal(out.length, 3);
        assert.equal(out[0]?.meta.changes, 1);
        assert.deepEqual(rows(out[2]!), [{ name: "a" }, { name: "b" }], "a batch sees its own writes");
        assert.equal(await count(db, "t"), 2);
      }));

    test("exec runs several statements without parameters", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        const r = await db.exec("CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1); INSERT INTO a VALUES (2);");
        assert.equal(r.count, 3);
        assert.equal(typeof r.duration, "number");
        assert.equal(await count(db, "a"), 2);
      }));

    test("SQL errors carry STRATUS_E_SQL and the statement; the database still works", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        await assert.rejects(
          () => db.query("SELEC 1", [], "all"),
          (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && e.message.includes("SELEC 1"),
        );
        await assert.rejects(() => db.exec("CREATE TABLE"), { code: "STRATUS_E_SQL" });
        await assert.rejects(() => db.query("SELECT * FROM missing_table", [], "all"), { code: "STRATUS_E_SQL" });
        assert.deepEqual(rows(await db.query("SELECT 1 AS one", [], "all")), [{ one: 1 }]);
      }));

    test("a transaction never outlives the call that opened it", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        await db.exec("CREATE TABLE t (x INTEGER)");
        await assert.rejects(
          () => db.exec("BEGIN; INSERT INTO t VALUES (1)"),
          (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && /rolled back/.test(e.message),
        );
        await assert.rejects(
          () => db.query("BEGIN", [], "run"),
          (e: { code: string; message: string }) => e.code === "STRATUS_E_SQL" && /batch\(\)/.test(e.message),
        );
        await db.exec("INSERT INTO t VALUES (2)");
        const r = await db.query("SELECT x FROM t", [], "raw");
        assert.ok("rows" in r);
        assert.deepEqual(r.rows, [[2]]);
        await db.exec("BEGIN; INSERT INTO t VALUES (3); COMMIT");
        assert.equal(await count(db, "t"), 2);
      }));

    test("databases are private per service and binding", () =>
      withProvider(make, Date.now, async (p) => {
        await p.sql("a", "DB").exec("CREATE TABLE only_a (x INTEGER)");
        await assert.rejects(() => p.sql("b", "DB").query("SELECT * FROM only_a", [], "all"), { code: "STRATUS_E_SQL" });
        await assert.rejects(() => p.sql("a", "OTHER").query("SELECT * FROM only_a", [], "all"), { code: "STRATUS_E_SQL" });
        await p.sql("b", "DB").exec("CREATE TABLE only_a (y TEXT)");
        await p.sql("b", "DB").query("INSERT INTO only_a VALUES (?)", ["b's"], "run");
        assert.equal(await count(p.sql("a", "DB"), "only_a"), 0);
      }));

    test("concurrent statements on one database all complete", () =>
      withProvider(make, Date.now, async (p) => {
        const db = p.sql("svc", "DB");
        await db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY)");
        await Promise.all(Array.from({ length: 20 }, (_, i) => db.query("INSERT INTO t (id) VALUES (?)", [i], "run")));
        assert.equal(await count(db, "t"), 20);
      }));
  });
}
