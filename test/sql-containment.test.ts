// A service's SQL binding attacked through a real isolate and real HTTP (`stratus dev`, one worker
// process, so the neighbour shares it with the attacker): the database is exactly the service's
// own, a runaway statement stalls nothing but its own call and is killed at limits.timeout, and
// the storage quota stops a service from filling the disk. Then the modes of every data file of
// a production node after real use.
import assert from "node:assert/strict";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { digestOf } from "../src/registry/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { startNodeInProcess, type InProcessNode } from "./helpers/node-in-process.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

const HOSTILE = `
type DB = { prepare(s: string): { bind(...a: unknown[]): any; all(): Promise<any>; run(): Promise<any>; first(): Promise<any> }; exec(s: string): Promise<unknown> };
const attempt = async (fn: () => Promise<unknown>): Promise<Response> => {
  try {
    return Response.json({ ok: true, value: await fn() });
  } catch (e) {
    return Response.json({ ok: false, code: (e as { code?: string }).code, message: (e as Error).message });
  }
};
export default {
  async fetch(request: Request, env: { DB: DB; KV: { put(k: string, v: ArrayBuffer): Promise<void> } }): Promise<Response> {
    const url = new URL(request.url);
    const arg = url.searchParams.get("arg") ?? "";
    switch (url.pathname) {
      case "/attach": return attempt(() => env.DB.exec("ATTACH DATABASE '" + arg + "' AS victim"));
      case "/attach-uri": return attempt(() => env.DB.prepare("ATTACH 'file:' || ? || '?mode=rwc' AS made").bind(arg).run());
      case "/vacuum-into": return attempt(() => env.DB.exec("VACUUM INTO '" + arg + "'"));
      case "/pragma": return attempt(() => env.DB.exec("PRAGMA " + arg));
      case "/multi": return attempt(() => env.DB.exec("CREATE TABLE IF NOT EXISTS t (x); ATTACH DATABASE '" + arg + "' AS victim; INSERT INTO victim.tokens VALUES ('x')"));
      case "/runaway": return attempt(() => env.DB.prepare("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) AS n FROM c").first());
      case "/ok": return attempt(() => env.DB.prepare("SELECT 41 + 1 AS n").first());
      case "/fill": return attempt(async () => {
        await env.DB.exec("CREATE TABLE IF NOT EXISTS junk (b BLOB)");
        for (let i = 0; i < 200; i++) await env.DB.prepare("INSERT INTO junk VALUES (randomblob(65536))").run();
      });
      case "/kv-fill": return attempt(() => env.KV.put("big" + arg, new Uint8Array(512 * 1024).buffer));
      case "/count": return attempt(() => env.DB.prepare("SELECT count(*) AS n FROM junk").first());
    }
    return new Response("no", { status: 404 });
  },
};`;

const NEIGHBOUR = `
export default {
  async fetch(_req: Request, env: { DB: { exec(s: string): Promise<unknown>; prepare(s: string): { first(): Promise<{ n: number }>; run(): Promise<unknown> } } }): Promise<Response> {
    await env.DB.exec("CREATE TABLE IF NOT EXISTS hits (at INTEGER)");
    await env.DB.prepare("INSERT INTO hits VALUES (1)").run();
    return new Response(String((await env.DB.prepare("SELECT count(*) AS n FROM hits").first()).n));
  },
};`;

describe("stratus dev: a function's SQL is confined, bounded in time and in space", () => {
  let project: TempProject;
  let dev: DevServer;
  let base = "";
  let control = "";

  before(async () => {
    project = tempProject({
      "stratus.yaml": `name: sqltest
services:
  hostile:
    entry: hostile.ts
    routes: ["GET /h/*"]
    limits: { timeout: 5s, storage: 1mb }
    bindings: { DB: { sql: {} }, KV: { kv: {} } }
  neighbour:
    entry: neighbour.ts
    routes: ["GET /n"]
    bindings: { DB: { sql: {} } }
`,
      "hostile.ts": HOSTILE.replaceAll('"/', '"/h/'),
      "neighbour.ts": NEIGHBOUR,
    });
    dev = testDevServer(project.dir, { workers: 1, controlPort: 0 });
    base = `http://127.0.0.1:${await dev.start()}`;
    control = `http://127.0.0.1:${dev.controlPort}`;
  });
  after(async () => {
    await dev?.stop();
    project.remove();
  });

  const get = async (path: string): Promise<{ status: number; body: { ok: boolean; code?: string; message?: string; value?: unknown } }> => {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as { ok: boolean; code?: string; message?: string } };
  };
  const state = (): string => join(project.dir, ".stratus", "state");

  test("ATTACH, file: URIs, VACUUM INTO and unsafe pragmas are refused with STRATUS_E_SQL_DENIED; nothing outside is touched", async () => {
    assert.equal(await (await fetch(`${base}/n`)).text(), "1");
    const victim = join(state(), "neighbour", "DB.sql.sqlite");
    const events = join(project.dir, ".stratus", "events.sqlite");
    const made = join(project.dir, "made-by-attacker.sqlite");
    const attacks = [
      `/h/attach?arg=${encodeURIComponent(victim)}`,
      `/h/attach?arg=${encodeURIComponent(events)}`,
      `/h/attach-uri?arg=${encodeURIComponent(made)}`,
      `/h/vacuum-into?arg=${encodeURIComponent(made)}`,
      `/h/multi?arg=${encodeURIComponent(victim)}`,
      `/h/pragma?arg=${encodeURIComponent("writable_schema = 1")}`,
      `/h/pragma?arg=${encodeURIComponent("max_page_count = 4294967294")}`,
      `/h/pragma?arg=${encodeURIComponent("database_list")}`,
    ];
    for (const path of attacks) {
      const r = await get(path);
      assert.equal(r.body.ok, false, `${path}: ${JSON.stringify(r)}`);
      assert.equal(r.body.code, "STRATUS_E_SQL_DENIED", `${path}: ${r.body.message}`);
      assert.match(r.body.message ?? "", /is not allowed/);
    }
    assert.equal(existsSync(made), false, "VACUUM INTO / ATTACH ?mode=rwc created no file");
    // The neighbour's database is untouched and still its own.
    assert.equal(await (await fetch(`${base}/n`)).text(), "2");
  });

  test("a runaway recursive CTE stalls neither the neighbour in the same worker nor the control API, and is killed at limits.timeout", async () => {
    assert.equal((await get("/h/ok")).body.value && ((await get("/h/ok")).body.value as { n: number }).n, 42);
    const before2 = Number(await (await fetch(`${base}/n`)).text());
    let settled = false;
    const runaway = fetch(`${base}/h/runaway`, { signal: AbortSignal.timeout(60_000) }).then(async (r) => {
      settled = true;
      return { status: r.status, text: await r.text() };
    });
    for (let i = 1; i <= 5; i++) {
      assert.equal(await (await fetch(`${base}/n`, { signal: AbortSignal.timeout(10_000) })).text(), String(before2 + i));
    }
    const status = await fetch(`${control}/v1/status`, { signal: AbortSignal.timeout(10_000) });
    assert.equal(status.status, 200);
    assert.equal(settled, false, "the neighbour and the control API answered while the runaway statement ran");
    const r = await runaway;
    // Whichever of the invocation's and the statement's limits.timeout fires first answers.
    assert.match(r.text, /STRATUS_E_SQL_TIMEOUT|STRATUS_E_TIMEOUT/);
    // The executor was killed: the service's next statement runs at once on a fresh one.
    assert.equal(((await get("/h/ok")).body.value as { n: number }).n, 42);
  });

  test("limits.storage: past the quota writes fail with STRATUS_E_STORAGE_QUOTA for SQL and KV alike, and what was stored is kept", async () => {
    const fill = await get("/h/fill");
    assert.equal(fill.body.ok, false);
    assert.equal(fill.body.code, "STRATUS_E_STORAGE_QUOTA", fill.body.message);
    assert.match(fill.body.message ?? "", /1MB/);
    assert.match(fill.body.message ?? "", /services\.hostile\.limits\.storage/);
    const rows = ((await get("/h/count")).body.value as { n: number }).n;
    assert.ok(rows > 0 && rows < 200, `rows kept: ${rows}`);
    const kv = await get("/h/kv-fill?arg=1");
    assert.equal(kv.body.code, "STRATUS_E_STORAGE_QUOTA", kv.body.message);
    assert.equal(((await get("/h/count")).body.value as { n: number }).n, rows);
    // The neighbour's quota is its own.
    assert.ok(Number(await (await fetch(`${base}/n`)).text()) > 0);
  });
});

describe("stratus start: data files are private to the node's user", () => {
  let data: TempProject;
  let started: InProcessNode | undefined;

  before(async () => {
    data = tempProject({});
    started = await startNodeInProcess(data.dir);
    const { control, token: admin } = started;
    const code = `var __stratus_module = (() => ({ default: { async fetch(_r, env) {
      await env.KV.put("k", "v");
      await env.DB.exec("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1)");
      await env.EVENTS.publish("t.one", { hello: 1 });
      return new Response(await env.KV.get("k"));
    } } }))();`;
    const yaml = `name: modes\ntopics:\n  t.one: {}\nservices:\n  app:\n    entry: app.ts\n    routes: ["GET /app"]\n    bindings:\n      KV: { kv: {} }\n      DB: { sql: {} }\n      EVENTS: { publish: [t.one] }\n`;
    const res = await fetch(`${control}/v1/apply`, {
      method: "POST",
      headers: { authorization: `Bearer ${admin}`, "content-type": "application/json" },
      body: JSON.stringify({ yaml, bundles: [{ service: "app", code, digest: digestOf(code) }] }),
    });
    assert.equal(res.status, 200, await res.text());
    const served = await fetch(`${started.gateway}/app`);
    assert.equal(await served.text(), "v");
  });
  after(async () => {
    await started?.stop();
    data.remove();
  });

  test("every file under the data directory is 0600 and every directory 0700, -wal and -shm included", () => {
    const seen: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, e.name);
        seen.push(full.slice(data.dir.length + 1));
        const mode = statSync(full).mode & 0o777;
        assert.equal(mode, e.isDirectory() ? 0o700 : 0o600, `${full} is ${mode.toString(8)}`);
        if (e.isDirectory()) walk(full);
      }
    };
    walk(data.dir);
    for (const f of ["registry.sqlite", "registry.sqlite-wal", "events.sqlite", "events.sqlite-wal", "state/app/KV.kv.sqlite-wal", "state/app/DB.sql.sqlite"]) {
      assert.ok(seen.includes(f), `${f} in ${seen.join(", ")}`);
    }
  });
});
