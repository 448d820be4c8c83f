// `stratus start` as an operator and a CI job use it: tokens and roles on every endpoint, plan,
// apply (all or nothing, serialised), deploy under load, versions, rollback, secrets sealed on
// disk and redacted from logs, destroy, and a restart that keeps what was applied.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { digestOf } from "../src/registry/index.ts";
import { NodeApi, NodeServer, openapi } from "../src/node/index.ts";
import { createLogger } from "../src/telemetry/index.ts";
import { steadyLoad } from "./helpers/load.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let data: TempProject;
let node: NodeServer;
let api: NodeApi;
let control: string;
let gateway: string;
let admin: string;
const logs: string[] = [];

function start(): Promise<void> {
  const sink = { write: (line: string): boolean => logs.push(line) > 0 } as unknown as NodeJS.WritableStream;
  const logger = createLogger({ json: true, level: "info", destination: sink });
  node = new NodeServer({ dataDir: data.dir, host: "127.0.0.1", port: 0, controlPort: 0, workers: 1, logger, print: () => undefined });
  return node.start().then(async (gw) => {
    gateway = `http://127.0.0.1:${gw}`;
    api = new NodeApi(node);
    control = `http://127.0.0.1:${await api.listen(0, "127.0.0.1")}`;
  });
}

before(async () => {
  data = tempProject({});
  await start();
  admin = readFileSync(join(data.dir, "admin-token"), "utf8").trim();
});

after(async () => {
  await api.close();
  await node.stop();
  data.remove();
});

async function call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${control}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A stack file and bundles as the CLI would upload them. */
function stack(
  services: Record<string, { code: string; yaml?: string }>,
  top = "",
): { yaml: string; bundles: { service: string; code: string; digest: string }[] } {
  let yaml = `name: live\n${top}services:\n`;
  for (const [name, s] of Object.entries(services)) yaml += `  ${name}:\n    entry: ${name}.ts\n${s.yaml ?? `    routes: ["GET /${name}"]\n`}`;
  return { yaml, bundles: Object.entries(services).map(([service, s]) => ({ service, code: s.code, digest: digestOf(s.code) })) };
}

/** A bundle as esbuild would make it: an IIFE that sets the module. */
function bundle(body: string): string {
  return `var __stratus_module = (() => ({ default: ${body} }))();`;
}

const hello = (text: string): string => bundle(`{ fetch() { return new Response(${JSON.stringify(text)}); } }`);

test("first start wrote an admin token (0600); the OpenAPI document lists every endpoint with its role", async () => {
  assert.match(admin, /^stx_[a-f0-9]{8}_[A-Za-z0-9_-]{32}$/);
  const { statSync } = await import("node:fs");
  assert.equal(statSync(join(data.dir, "admin-token")).mode & 0o777, 0o600);
  const doc = (await call("GET", "/v1/openapi.json", admin)).body as { paths: Record<string, Record<string, { "x-stratus-role": string }>> };
  assert.equal(doc.paths["/v1/apply"]!["post"]!["x-stratus-role"], "deployer");
  assert.equal(doc.paths["/v1/tokens"]!["post"]!["x-stratus-role"], "admin");
  assert.deepEqual(doc, openapi());
});

test("every endpoint refuses a missing, malformed, unknown, revoked or expired token, and a role below its own", async () => {
  const reader = (await call("POST", "/v1/tokens", admin, { name: "r", role: "reader" })).body["token"] as string;
  const deployer = (await call("POST", "/v1/tokens", admin, { name: "d", role: "deployer" })).body["token"] as string;
  const revoked = (await call("POST", "/v1/tokens", admin, { name: "gone", role: "admin" })).body as { token: string; id: string };
  assert.equal((await call("DELETE", `/v1/tokens/${revoked.id}`, admin)).status, 200);
  const expired = (await call("POST", "/v1/tokens", admin, { name: "old", role: "admin", ttl: "1s" })).body["token"] as string;
  await new Promise((r) => setTimeout(r, 1100)); // the token's own lifetime, not a race
  const unknown = `stx_0123abcd_${"x".repeat(32)}`;
  const rank = { reader: 1, deployer: 2, admin: 3 } as const;
  const doc = openapi() as { paths: Record<string, Record<string, { "x-stratus-role": keyof typeof rank }>> };
  let checked = 0;
  for (const [path, methods] of Object.entries(doc.paths)) {
    const concrete = path.replace(/\{[^}]+\}/g, "x");
    for (const [method, op] of Object.entries(methods)) {
      const m = method.toUpperCase();
      const body = m === "POST" || m === "PUT" ? {} : undefined;
      for (const [token, why] of [
        [null, "no token"],
        ["Bearer-less", "malformed"],
        [unknown, "unknown"],
        [revoked.token, "revoked"],
        [expired, "expired"],
      ] as const) {
        const r = await call(m, concrete, token, body);
        assert.equal(r.status, 401, `${m} ${path} with ${why} token: ${JSON.stringify(r.body)}`);
      }
      const role = op["x-stratus-role"];
      for (const [token, has] of [
        [reader, "reader"],
        [deployer, "deployer"],
      ] as const) {
        if (rank[has] >= rank[role]) continue;
        const r = await call(m, concrete, token, body);
        assert.equal(r.status, 403, `${m} ${path} as ${has}`);
        assert.match(String((r.body["error"] as { message: string }).message), new RegExp(`needs ${role}`));
      }
      checked++;
    }
  }
  assert.ok(checked >= 25, `${checked} endpoints checked`);
});

test("apply serves the new stack; the plan lists each kind of change; a second identical plan has none", async () => {
  const v1 = stack({ web: { code: hello("v1") }, old: { code: hello("old") } }, "topics:\n  t.one: {}\n");
  const r = await call("POST", "/v1/apply", admin, v1);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "v1");
  assert.match((await call("POST", "/v1/plan", admin, v1)).body["text"] as string, /no changes/);

  await call("PUT", "/v1/secrets/API_KEY", admin, { value: "sk_live_abcdef" });
  const v2 = stack(
    {
      web: {
        code: hello("v2"),
        yaml: `    routes: ["GET /web", "POST /web"]\n    bindings:\n      KV: { kv: {} }\n      KEY: { secret: API_KEY }\n    scale: { max: 4 }\n    subscribe:\n      t.two: { maxAttempts: 3 }\n    schedules:\n      - cron: "0 * * * *"\n`,
      },
      fresh: { code: hello("fresh") },
    },
    "topics:\n  t.two: {}\n",
  );
  const plan = (await call("POST", "/v1/plan", admin, { yaml: v2.yaml, bundles: v2.bundles.map(({ service, digest }) => ({ service, digest })) })).body[
    "text"
  ] as string;
  for (const line of [
    /\+ topic t\.two/,
    /- topic t\.one/,
    /~ service web/,
    /version: [0-9a-f]{12} -> [0-9a-f]{12}/,
    /\+ route POST \/web/,
    /\+ binding KV \(kv\)/,
    /\+ binding KEY \(secret API_KEY\)/,
    /\+ subscribe t\.two/,
    /\+ schedule 0 \* \* \* \*/,
    /~ scale\.max: 10 -> 4/,
    /\+ service fresh/,
    /- service old/,
  ]) {
    assert.match(plan, line);
  }
  assert.ok(!plan.includes("sk_live_abcdef"), "a plan names secrets, never their values");
});

test("apply is all or nothing: one service that cannot load, a damaged upload or a missing secret change nothing", async () => {
  const before = (await call("GET", "/v1/stack", admin)).body;
  const broken = stack({ web: { code: hello("v3") }, bad: { code: "throw new Error('boom at load');" } });
  const r = await call("POST", "/v1/apply", admin, broken);
  assert.equal(r.status, 422);
  assert.match((r.body["error"] as { message: string }).message, /nothing changed: service "bad" .*boom at load/);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "v1", "the old version still serves");
  assert.deepEqual((await call("GET", "/v1/stack", admin)).body, before);

  const damaged = stack({ web: { code: hello("v4") } });
  damaged.bundles[0]!.code += " ";
  const d = await call("POST", "/v1/apply", admin, damaged);
  assert.equal(d.status, 400);
  assert.equal((d.body["error"] as { code: string }).code, "STRATUS_E_DIGEST_MISMATCH");

  const needs = stack({ web: { code: hello("v5"), yaml: `    routes: ["GET /web"]\n    bindings:\n      S: { secret: NOT_SET }\n` } });
  const s = await call("POST", "/v1/apply", admin, needs);
  assert.equal(s.status, 400);
  assert.match((s.body["error"] as { message: string }).message, /needs secret "NOT_SET".*stratus secrets set NOT_SET/);
  assert.deepEqual((await call("GET", "/v1/stack", admin)).body, before);
});

test("concurrent applies are serialised: the second is told why", async () => {
  const a = stack({ web: { code: hello("a") } });
  const b = stack({ web: { code: hello("b") } });
  const [ra, rb] = await Promise.all([call("POST", "/v1/apply", admin, a), call("POST", "/v1/apply", admin, b)]);
  const statuses = [ra.status, rb.status].sort();
  assert.deepEqual(statuses, [200, 409]);
  const loser = ra.status === 409 ? ra : rb;
  assert.match(
    (loser.body["error"] as { message: string }).message,
    /another apply \(by "admin", started .*\) is running on this node; retry when it finishes/,
  );
});

test("deploys under steady load fail no request; versions lists them; rollback is instant and exact", async () => {
  const load = steadyLoad(`${gateway}/web`);
  const versions: string[] = [];
  for (let i = 1; i <= 5; i++) {
    const body = stack({ web: { code: hello(`deploy ${i}`) } });
    const r = await call("POST", "/v1/services/web/deploy", admin, { yaml: body.yaml, bundles: body.bundles });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    versions.push(r.body["version"] as string);
    assert.equal(await (await fetch(`${gateway}/web`)).text(), `deploy ${i}`, "the new code serves right after the deploy");
  }
  const { failures, served } = await load.stop();
  assert.deepEqual(failures, []);
  assert.ok(served > 20, `${served} requests served during the deploys`);
  const list = (await call("GET", "/v1/services/web/versions", admin)).body["versions"] as { version: string; active: boolean }[];
  assert.equal(list.find((v) => v.active)?.version, versions[4]);
  const rb = await call("POST", "/v1/services/web/rollback", admin, {});
  assert.equal(rb.body["version"], versions[3]);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "deploy 4");
  const to = await call("POST", "/v1/services/web/rollback", admin, { to: versions[0] });
  assert.equal(to.status, 200);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "deploy 1");
  const missing = await call("POST", "/v1/services/web/rollback", admin, { to: "000000000000" });
  assert.equal(missing.status, 404);
  assert.match((missing.body["error"] as { message: string }).message, /has no version "000000000000"/);
});

test("secrets: sealed on disk, in env only where granted, redacted from logs and error bodies", async () => {
  const value = "sk_live_abcdef";
  const s = stack({
    web: {
      code: bundle(
        `{ fetch(req, env) { console.log("the key is " + env.KEY); if (new URL(req.url).search) throw new Error("bad key " + env.KEY); return new Response(String(env.KEY === ${JSON.stringify(value)})); } }`,
      ),
      yaml: `    routes: ["GET /web"]\n    bindings:\n      KEY: { secret: API_KEY }\n`,
    },
    other: { code: bundle(`{ fetch(req, env) { return new Response(String(Object.keys(env))); } }`) },
  });
  assert.equal((await call("POST", "/v1/apply", admin, s)).status, 200);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "true");
  assert.equal(await (await fetch(`${gateway}/other`)).text(), "", "not granted: not in env");
  const failed = await fetch(`${gateway}/web?fail=1`);
  const errorBody = await failed.text();
  assert.equal(failed.status, 500);
  assert.ok(!errorBody.includes(value) && errorBody.includes("[REDACTED]"), errorBody);
  const all = logs.join("");
  assert.ok(all.includes("the key is [REDACTED]"));
  assert.ok(!all.includes(value), "no log line carries the value");
  const raw = readFileSync(join(data.dir, "registry.sqlite"));
  assert.ok(!raw.includes(Buffer.from(value)), "not in the registry file in clear");
  const listed = JSON.stringify((await call("GET", "/v1/secrets", admin)).body);
  assert.ok(listed.includes("API_KEY") && !listed.includes(value));
  const rotated = await call("POST", "/v1/secrets/rotate", admin, {});
  assert.equal(rotated.status, 200);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "true", "still opens after rotation");
  assert.equal((await call("DELETE", "/v1/secrets/API_KEY", admin)).status, 400, "in use: refused");
});

test("a restarted node serves what was applied; destroy removes it; the audit log tells who did what", async () => {
  const before = (await call("GET", "/v1/stack", admin)).body;
  await api.close();
  await node.stop();
  await start();
  assert.deepEqual((await call("GET", "/v1/stack", admin)).body, before);
  assert.equal(await (await fetch(`${gateway}/web`)).text(), "true");
  const d = await call("DELETE", "/v1/stack", admin);
  assert.deepEqual((d.body["removed"] as string[]).sort(), ["other", "web"]);
  assert.equal((await fetch(`${gateway}/web`)).status, 404);
  const audit = (await call("GET", "/v1/audit", admin)).body["entries"] as { actor: string; action: string }[];
  for (const action of ["destroy", "rollback", "deploy", "apply", "apply.failed", "secret.set", "secrets.rotate", "token.create", "token.revoke"]) {
    assert.ok(
      audit.some((e) => e.action === action),
      `audit has ${action}`,
    );
  }
});

test("docs/control-api.openapi.json is the document the node serves", () => {
  const doc = JSON.parse(readFileSync(new URL("../docs/control-api.openapi.json", import.meta.url), "utf8")) as unknown;
  assert.deepEqual(doc, openapi(), "regenerate it: node --no-node-snapshot -e 'import(\"./src/node/index.ts\").then(...)' (see docs/node.md)");
});

test("src/cli/control-api.gen.ts (the CLI's types) is generated from the OpenAPI document", async () => {
  const { generate } = await import("../scripts/gen-control-types.ts");
  const { format } = await import("prettier");
  const expected = await format(await generate(openapi() as never), { parser: "typescript", printWidth: 160 });
  assert.equal(
    readFileSync(new URL("../src/cli/control-api.gen.ts", import.meta.url), "utf8"),
    expected,
    "regenerate: node --no-node-snapshot scripts/gen-control-types.ts && npx prettier --write src/cli/control-api.gen.ts",
  );
});
