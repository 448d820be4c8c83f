// `stratus start`'s lifecycle as an operator meets it: the admin token appears only once the node
// answers; a busy port ends the process with nothing left behind; revoking every admin token is
// not undone by a restart (an explicit, audited, local recovery is); stored code is checked
// against its digest whenever it is loaded; refused versions are not listed; a canary of the
// active version is refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync, watch } from "node:fs";
import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { test } from "node:test";
import { digestOf } from "../src/registry/index.ts";
import { MAIN, startNode, stratus } from "./helpers/node.ts";
import { startNodeInProcess } from "./helpers/node-in-process.ts";
import { tempProject } from "./helpers/project.ts";

/** A bundle as esbuild makes it: an IIFE that sets the module. */
const bundle = (body: string): string => `var __stratus_module = (() => ({ default: ${body} }))();`;
const hello = (text: string): string => bundle(`{ fetch() { return new Response(${JSON.stringify(text)}); } }`);

async function call(
  base: string,
  method: string,
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function busyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ port: (server.address() as { port: number }).port, server })));
}

/** `stratus start` that is expected to end by itself (killed after a minute if it does not). */
function startExpectingExit(args: string[]): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ["--no-node-snapshot", MAIN, "start", "--workers", "1", "--json", ...args],
      { env: { ...process.env, NODE_OPTIONS: "" }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, output: stdout + stderr }),
    );
  });
}

test("a busy gateway or control port: stratus start exits non-zero, says why, and leaves no token, data directory or process", async () => {
  const busy = await busyPort();
  const root = tempProject({});
  try {
    for (const [name, ports] of [
      ["gateway", ["--port", String(busy.port), "--control-port", "0"]],
      ["control", ["--port", "0", "--control-port", String(busy.port)]],
    ] as const) {
      const dir = join(root.dir, name);
      const r = await startExpectingExit(["--data", dir, ...ports]);
      assert.equal(r.code, 1, `${name}: ${r.output}`);
      assert.match(r.output, new RegExp(`${busy.port} on 127\\.0\\.0\\.1 is already in use`));
      assert.equal(existsSync(join(dir, "admin-token")), false, `${name}: a token was left behind`);
      assert.equal(existsSync(dir), false, `${name}: the data directory it made was left behind`);
    }
  } finally {
    busy.server.close();
    root.remove();
  }
});

test("the admin token appears only once the control API answers", async () => {
  const data = tempProject({});
  const file = join(data.dir, "admin-token");
  // Watch the directory before the node starts: the first moment the file exists, use it.
  const appeared = new Promise<void>((resolve) => {
    const w = watch(data.dir, () => {
      if (existsSync(file) && readFileSync(file, "utf8").trim() !== "") {
        w.close();
        resolve();
      }
    });
  });
  // A known control port, so the API can be called the moment the token exists (not once the node prints).
  const free = await busyPort();
  await new Promise((r) => free.server.close(r));
  const started = startNode(data.dir, ["--workers", "2", "--control-port", String(free.port)]);
  try {
    await Promise.race([appeared, started.then(() => appeared)]);
    const token = readFileSync(file, "utf8").trim();
    assert.equal((await call(`http://127.0.0.1:${free.port}`, "GET", "/v1/stack", token)).status, 200);
    assert.match((await started).output(), /first start: an admin token is in/);
  } finally {
    await (await started).stop();
    data.remove();
  }
});

test("revoking every admin token survives a restart (none is minted); stratus tokens recover is local and audited", async () => {
  const data = tempProject({});
  try {
    let node = await startNode(data.dir);
    const first = readFileSync(join(data.dir, "admin-token"), "utf8").trim();
    const id = /^stx_([a-f0-9]{8})_/.exec(first)![1]!;
    const reader = (await call(node.control, "POST", "/v1/tokens", first, { name: "ci", role: "reader" })).body["token"] as string;
    assert.equal((await call(node.control, "DELETE", `/v1/tokens/${id}`, first)).status, 200);
    await node.stop();
    node = await startNode(data.dir);
    try {
      assert.match(node.output(), /no admin token of this node is active.*stratus tokens recover --data/);
      assert.doesNotMatch(node.output(), /first start: an admin token/);
      assert.equal(readFileSync(join(data.dir, "admin-token"), "utf8").trim(), first, "a new token was written");
      assert.equal((await call(node.control, "GET", "/v1/tokens", first)).status, 401);
      // The reader still reads, and only reads.
      assert.equal((await call(node.control, "GET", "/v1/stack", reader)).status, 200);
      assert.equal((await call(node.control, "GET", "/v1/tokens", reader)).status, 403);
      const env = { HOME: data.dir, STRATUS_URL: node.control };
      const recovered = await stratus(["tokens", "recover", "--data", data.dir], env);
      assert.equal(recovered.code, 0, recovered.stderr);
      assert.match(recovered.stdout, /a new admin token "recovered-admin" is in .*admin-token/);
      const fresh = readFileSync(join(data.dir, "admin-token"), "utf8").trim();
      assert.notEqual(fresh, first);
      const audit = await call(node.control, "GET", "/v1/audit", fresh);
      assert.equal(audit.status, 200);
      const actions = (audit.body["entries"] as { action: string; actor: string }[]).map((e) => `${e.actor} ${e.action}`);
      assert.ok(actions.includes("local token.recover"), actions.join(", "));
      const wrong = await stratus(["tokens", "recover", "--data", join(data.dir, "nope")], env);
      assert.equal(wrong.code, 1);
      assert.match(wrong.stderr, /holds no node registry/);
    } finally {
      await node.stop();
    }
  } finally {
    data.remove();
  }
});

const YAML = `name: digest\nservices:\n  a:\n    entry: a.ts\n    routes: ["GET /a"]\n  b:\n    entry: b.ts\n    routes: ["GET /b"]\n`;
const up = (service: string, code: string): { service: string; code: string; digest: string } => ({ service, code, digest: digestOf(code) });

/** What a function with SQL access to the registry did: replaced another service's stored code. */
function tamper(dir: string, service: string, version: string, code: string): void {
  const db = new DatabaseSync(join(dir, "registry.sqlite"));
  db.prepare("UPDATE versions SET code = ? WHERE service = ? AND version = ?").run(code, service, version);
  db.close();
}

test("stored code is verified whenever it is loaded: a restart and a rollback refuse an altered version; an apply repairs it", async () => {
  const data = tempProject({});
  let n = await startNodeInProcess(data.dir);
  try {
    const v1 = (await call(n.control, "POST", "/v1/apply", n.token, { yaml: YAML, bundles: [up("a", hello("a1")), up("b", hello("b1"))] })).body;
    const a1 = (v1["plan"] as { versions: Record<string, string> }).versions["a"]!;
    const v2 = await call(n.control, "POST", "/v1/services/a/deploy", n.token, { yaml: YAML, bundles: [up("a", hello("a2"))] });
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    const a2 = v2.body["version"] as string;
    // Rollback to an altered version: refused, the active one keeps serving.
    tamper(data.dir, "a", a1, hello("pwned"));
    const rb = await call(n.control, "POST", "/v1/services/a/rollback", n.token, {});
    assert.equal(rb.status, 422, JSON.stringify(rb.body));
    assert.match((rb.body["error"] as { message: string }).message, /STRATUS_E_CODE_DAMAGED.*does not match its digest/);
    assert.equal(await (await fetch(`${n.gateway}/a`)).text(), "a2");
    // A restart with the active version altered: that service is refused, the neighbour serves.
    tamper(data.dir, "a", a2, hello("pwned"));
    await n.stop();
    n = await startNodeInProcess(data.dir);
    const res = await fetch(`${n.gateway}/a`);
    assert.equal(res.status, 503);
    assert.doesNotMatch(await res.text(), /pwned/);
    assert.equal(await (await fetch(`${n.gateway}/b`)).text(), "b1");
    // Applying the right bundle again repairs the stored version.
    const again = await call(n.control, "POST", "/v1/apply", n.token, { yaml: YAML, bundles: [up("a", hello("a2")), up("b", hello("b1"))] });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(await (await fetch(`${n.gateway}/a`)).text(), "a2");
    await n.stop();
    n = await startNodeInProcess(data.dir);
    assert.equal(await (await fetch(`${n.gateway}/a`)).text(), "a2");
  } finally {
    await n.stop();
    data.remove();
  }
});

test("versions of a refused apply are not listed; a canary of the version already active is refused", async () => {
  const data = tempProject({});
  const n = await startNodeInProcess(data.dir);
  try {
    assert.equal((await call(n.control, "POST", "/v1/apply", n.token, { yaml: YAML, bundles: [up("a", hello("a1")), up("b", hello("b1"))] })).status, 200);
    const broken = bundle(`(() => { throw new Error("top-level failure"); })()`);
    const refused = await call(n.control, "POST", "/v1/apply", n.token, { yaml: YAML, bundles: [up("a", hello("a-next")), up("b", broken)] });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    for (const s of ["a", "b"]) {
      const list = (await call(n.control, "GET", `/v1/services/${s}/versions`, n.token)).body["versions"] as { active: boolean }[];
      assert.equal(list.length, 1, `${s}: ${JSON.stringify(list)}`);
      assert.equal(list[0]!.active, true);
    }
    const refusedDeploy = await call(n.control, "POST", "/v1/services/b/deploy", n.token, { yaml: YAML, bundles: [up("b", broken)] });
    assert.equal(refusedDeploy.status, 422);
    assert.equal(((await call(n.control, "GET", "/v1/services/b/versions", n.token)).body["versions"] as unknown[]).length, 1);
    const same = await call(n.control, "POST", "/v1/services/a/deploy", n.token, { yaml: YAML, bundles: [up("a", hello("a1"))], canary: 10 });
    assert.equal(same.status, 422, JSON.stringify(same.body));
    assert.match((same.body["error"] as { message: string }).message, /canary refused: a@\w{12} is already the active version/);
    assert.deepEqual((await call(n.control, "GET", "/v1/stack", n.token)).body["canaries"], {});
  } finally {
    await n.stop();
    data.remove();
  }
});
