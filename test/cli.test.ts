// The `stratus` command as a user types it.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const BIN = new URL("../bin/stratus.js", import.meta.url).pathname;
const run = promisify(execFile);
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

async function stratus(args: string[], cwd?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NODE_OPTIONS: "" } });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test("--help everywhere", async () => {
  const top = await stratus(["--help"]);
  assert.equal(top.code, 0);
  const commands = [
    "init",
    "dev",
    "invoke",
    "status",
    "events",
    "check",
    "schema",
    "start",
    "plan",
    "apply",
    "deploy",
    "promote",
    "versions",
    "rollback",
    "destroy",
    "tokens",
    "secrets",
    "audit",
  ];
  for (const cmd of commands) assert.match(top.stdout, new RegExp(`\\b${cmd}\\b`));
  for (const cmd of [...commands, "events publish", "events dlq", "events replay", "tokens create", "secrets set"]) {
    const r = await stratus([...cmd.split(" "), "--help"]);
    assert.equal(r.code, 0, cmd);
    assert.match(r.stdout, /Usage: stratus/);
  }
});

test("bad input exits non-zero with a one-line cause", async () => {
  const unknown = await stratus(["deploi"]);
  assert.notEqual(unknown.code, 0);
  assert.match(unknown.stderr, /unknown command 'deploi'/);
  const port = await stratus(["dev", ".", "--port", "99999"]);
  assert.notEqual(port.code, 0);
  assert.match(port.stderr, /--port must be an integer from 0 to 65535, got "99999"/);
  const nofile = await stratus(["dev", "/nonexistent-dir"]);
  assert.equal(nofile.code, 1);
  assert.match(nofile.stderr, /^stratus: \/nonexistent-dir: no such directory/);
  const p = tempProject({ "stratus.yaml": 'name: x\nservices:\n  a:\n    entry: a.ts\n    routes: ["GET /a", "GIT /b"]\n', "a.ts": "export default {}" });
  cleanups.push(() => p.remove());
  const bad = await stratus(["dev", p.dir]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /stratus\.yaml:5:\d+: services\.a\.routes\[1\]: "GIT \/b" is not valid/);
});

test("invoke and status say what is wrong with their input", async () => {
  const p = tempProject({ "stratus.yaml": "name: x\nservices:\n  a:\n    entry: a.ts\n", "a.ts": "export default { fetch: () => new Response('a') };" });
  cleanups.push(() => p.remove());
  const unknown = await stratus(["invoke", "nope", "/", "--dir", p.dir]);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no service "nope" in .*stratus\.yaml; services: a/);
  const header = await stratus(["invoke", "a", "/", "--dir", p.dir, "-H", "no-colon"]);
  assert.equal(header.code, 1);
  assert.match(header.stderr, /--header "no-colon" is not "Name: value"/);
  const status = await stratus(["status", "--url", "http://127.0.0.1:9"]);
  assert.equal(status.code, 1);
  assert.match(status.stderr, /cannot reach the control API at http:\/\/127\.0\.0\.1:9 .*pass --url or set STRATUS_URL/);
});

test("check reports build errors per service", async () => {
  const p = tempProject({
    "stratus.yaml": "name: x\nservices:\n  a:\n    entry: a.ts\n",
    "a.ts": 'import fs from "fs"; export default { fetch: () => new Response(String(fs)) };',
  });
  cleanups.push(() => p.remove());
  const r = await stratus(["check", p.dir]);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /service "a" \(STRATUS_E_NODE_BUILTIN\):\n.*imports the Node built-in "fs" \(in a\.ts\)/);
});

test("check loads each service in an isolate: no default export, a throwing top level or a missing handler fail it, naming the problem", async () => {
  const p = tempProject({
    "stratus.yaml": [
      "name: x",
      "topics:",
      "  t.one: {}",
      "services:",
      "  nodefault:",
      "    entry: nodefault.ts",
      '    routes: ["GET /a"]',
      "  throws:",
      "    entry: throws.ts",
      '    routes: ["GET /b"]',
      "  noevent:",
      "    entry: noevent.ts",
      '    routes: ["GET /c"]',
      "    subscribe:",
      "      t.one: {}",
      "  fine:",
      "    entry: fine.ts",
      '    routes: ["GET /d"]',
      "",
    ].join("\n"),
    "nodefault.ts": `export const x = 1;`,
    "throws.ts": `const url: string | undefined = undefined;\nif (!url) throw new Error("DATABASE_URL missing");\nexport default { fetch: () => new Response("b") };`,
    "noevent.ts": `export default { fetch: () => new Response("c") };`,
    "fine.ts": `export default { fetch: () => new Response("d") };`,
  });
  cleanups.push(() => p.remove());
  const r = await stratus(["check", p.dir]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /service "nodefault" \(STRATUS_E_NO_HANDLER\):\n.*no default export/);
  assert.match(r.stdout, /service "throws" \(STRATUS_E_HANDLER_THREW\):\n.*DATABASE_URL missing\n\s+at throws\.ts:2:\d+\nfix: /);
  assert.match(r.stdout, /service "noevent" \(STRATUS_E_NO_HANDLER\):\n.*subscribes to topics, but the default export has no event\(\) method/);
  assert.doesNotMatch(r.stdout, /service "fine"/);
  assert.match(r.stderr, /3 of 4 services failed to build or load: "nodefault" \(STRATUS_E_NO_HANDLER\), "throws" \(STRATUS_E_HANDLER_THREW\), "noevent"/);
  p.write("nodefault.ts", `export default { fetch: () => new Response("a") };`);
  p.write("throws.ts", `export default { fetch: () => new Response("b") };`);
  p.write("noevent.ts", `export default { fetch: () => new Response("c"), event() {} };`);
  const ok = await stratus(["check", p.dir]);
  assert.equal(ok.code, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /ok: stack "x", 4 services built and loaded/);
});

test("init scaffolds a project that depends on this version by semver range, and invoke calls its service", async () => {
  const p = tempProject({});
  cleanups.push(() => p.remove());
  const dir = join(p.dir, "my-app");
  const r = await stratus(["init", dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ["stratus.yaml", "services/hello/index.ts", "test/hello.test.ts", "package.json"]) assert.ok(existsSync(join(dir, f)), f);
  const again = await stratus(["init", dir]);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists and is not empty/);

  const inv = await stratus(["invoke", "hello", "/hello/grace", "--dir", dir, "--json"]);
  assert.equal(inv.code, 0, inv.stderr);
  const out = JSON.parse(inv.stdout) as { status: number; body: string };
  assert.equal(out.status, 200);
  assert.deepEqual(JSON.parse(out.body), { message: "Hello, grace!", visits: 1 });

  // The scaffold depends on this version by semver range; its `npm install` and `npm test` run
  // against the packed package in test/package.test.ts.
  const manifest = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { dependencies: Record<string, string> };
  assert.equal(
    manifest.dependencies["stratus"],
    `^${(JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string }).version}`,
  );
});

test("dev serves until SIGINT, then finishes and exits 0", async () => {
  const p = tempProject({
    "stratus.yaml": 'name: x\nservices:\n  a:\n    entry: a.ts\n    routes: ["GET /"]\n',
    "a.ts": "export default { fetch: () => new Response('up') };",
  });
  cleanups.push(() => p.remove());
  const child = spawn(process.execPath, [BIN, "dev", p.dir, "--port", "0", "--workers", "1", "--json"], { env: { ...process.env, NODE_OPTIONS: "" } });
  cleanups.push(() => child.kill("SIGKILL"));
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  await waitFor(() => /on http:\/\/127\.0\.0\.1:(\d+)/.test(stdout), 20_000, "dev to print its address");
  const port = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)![1];
  assert.equal(await (await fetch(`http://127.0.0.1:${port}/`)).text(), "up");
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  child.kill("SIGINT");
  assert.equal(await exited, 0);
});
