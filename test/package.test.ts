// Stratus as a new user gets it: `npm pack`, `npm install <tarball>` in a fresh project outside
// this checkout, `stratus --help`, `stratus init`, the scaffold's `npm install`, `stratus dev`
// serving its route, its own `npm test` and `npm run typecheck`, and `stratus check` reporting a
// type error. The pack runs in a copy of the checkout, so nothing is written into the repository.
import assert from "node:assert/strict";
import { execFile, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, test } from "node:test";
import { promisify } from "node:util";
import { publint } from "publint";
import { formatMessage } from "publint/utils";
import { waitFor } from "./helpers/wait.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const RECORDER = new URL("./helpers/record-loads.ts", import.meta.url).pathname;
const run = promisify(execFile);
const own = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string; files: string[] };

// Outside the checkout: module resolution from here must not find the repository's node_modules.
const T = mkdtempSync(join(tmpdir(), "stratus-pkg-"));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, "SIGKILL"); // its process group: whatever it started too
    } catch {
      // already gone
    }
  }
  rmSync(T, { recursive: true, force: true });
});

// A nested `node --test` would report to this runner instead of printing; NODE_OPTIONS of the
// suite (--no-node-snapshot) is not what a user's shell has.
const { NODE_TEST_CONTEXT: _ctx, NODE_OPTIONS: _opts, ...baseEnv } = process.env;
const env: NodeJS.ProcessEnv = { ...baseEnv, npm_config_update_notifier: "false" };
const npmFlags = ["--prefer-offline", "--no-audit", "--no-fund"];

async function sh(cmd: string, args: string[], cwd: string, extra: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(cmd, args, { cwd, env: { ...env, ...extra }, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: typeof err.code === "number" ? err.code : -1, stdout: err.stdout ?? "", stderr: err.stderr ?? String(e) };
  }
}

/** `git status` of the checkout: the test must leave it as it found it. */
const gitStatus = (): string => spawnSync("git", ["status", "--porcelain"], { cwd: ROOT, encoding: "utf8" }).stdout;

/** The tarball the first test packed (the second installs it on an old Node.js). */
let tarball: string | undefined;

test("the packed package installs in a fresh project: --help, init, dev, the scaffold's test and typecheck, check", { timeout: 600_000 }, async () => {
  const statusBefore = gitStatus();
  const distBefore = existsSync(join(ROOT, "dist"));

  // 1. Pack a copy of the checkout, with a node's secrets lying in it as they would after the
  //    README's `stratus start --data ./stratus-data`.
  const copy = join(T, "checkout");
  cpSync(ROOT, copy, {
    recursive: true,
    filter: (src) => {
      const rel = relative(ROOT, src);
      return !/^(node_modules|\.git|dist|\.test-tmp[^/]*)(\/|$)/.test(rel);
    },
  });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
  mkdirSync(join(copy, "stratus-data"), { recursive: true });
  writeFileSync(join(copy, "stratus-data", "admin-token"), "stratus_admin_secret\n", { mode: 0o600 });
  writeFileSync(join(copy, "stratus-data", "master.key"), "k".repeat(32), { mode: 0o600 });
  mkdirSync(join(copy, ".stratus", "state"), { recursive: true });
  writeFileSync(join(copy, ".stratus", "state", "x.sqlite"), "");
  writeFileSync(join(copy, ".env"), "STRATUS_TOKEN=secret\n");

  const packed = await sh("npm", ["pack", "--json", "--pack-destination", T], copy);
  assert.equal(packed.code, 0, packed.stderr);
  const [info] = JSON.parse(packed.stdout.slice(packed.stdout.indexOf("["))) as { filename: string; size: number; files: { path: string }[] }[];
  tarball = join(T, info!.filename);
  const paths = info!.files.map((f) => f.path);
  // The allow-list as this test knows it, not as package.json says it: widening it is a decision.
  assert.deepEqual(own.files, ["bin/", "dist/", "docs/stratus.schema.json"]);
  const allowed = (p: string): boolean => /^(bin|dist)\//.test(p) || ["package.json", "README.md", "LICENSE", "docs/stratus.schema.json"].includes(p);
  assert.deepEqual(
    paths.filter((p) => !allowed(p)),
    [],
    "every packed file is in the files allow-list",
  );
  for (const p of paths) {
    assert.doesNotMatch(p, /stratus-data|admin-token|master\.key|\.sqlite|\.env|(^|\/)test\/|^bench\/|^src\//, p);
    // No TypeScript for Node to strip under node_modules: JavaScript and declarations only.
    assert.ok(!p.endsWith(".ts") || p.endsWith(".d.ts"), p);
  }
  for (const p of [
    "bin/stratus.js",
    "dist/cli/main.js",
    "dist/sdk/index.js",
    "dist/sdk/index.d.ts",
    "dist/testing/index.js",
    "dist/testing/index.d.ts",
    "dist/runtime/prelude/prelude.js",
    "docs/stratus.schema.json",
  ]) {
    assert.ok(paths.includes(p), `${p} is packed`);
  }
  const tgz = readFileSync(tarball);
  const lint = await publint({ pack: { tarball: tgz.buffer.slice(tgz.byteOffset, tgz.byteOffset + tgz.byteLength) }, level: "warning", strict: true });
  assert.deepEqual(
    lint.messages.map((m) => `${m.type}: ${formatMessage(m, lint.pkg, { color: false }) ?? m.code}`),
    [],
    "publint finds nothing",
  );

  // 2. A fresh project installs the tarball; its `stratus` answers --help without the runtime.
  const app = join(T, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "fresh", private: true }));
  const installed = await sh("npm", ["install", tarball, ...npmFlags], app);
  assert.equal(installed.code, 0, installed.stderr);
  const help = await sh("npx", ["stratus", "--help"], app);
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /Usage: stratus/);
  assert.match(help.stdout, /\binit\b[\s\S]*\bdev\b/);
  const record = join(T, "loads.jsonl");
  const recorded = await sh(join(app, "node_modules", ".bin", "stratus"), ["--help"], app, {
    NODE_OPTIONS: `--import=${RECORDER}`,
    STRATUS_LOAD_RECORD: record,
  });
  assert.equal(recorded.code, 0, recorded.stderr);
  const lines = readFileSync(record, "utf8").trim().split("\n");
  assert.equal(lines.length, 1, "one process image");
  const loaded = (JSON.parse(lines[0]!) as { loaded: string[] }).loaded;
  assert.ok(
    loaded.some((u) => u.includes("/node_modules/stratus/dist/cli/main.js")),
    "the compiled CLI ran",
  );
  assert.deepEqual(
    loaded.filter((u) => /isolated-vm|esbuild|node:sqlite/.test(u)),
    [],
  );

  // 3. `init` in an empty folder elsewhere: the dependency is a semver range of this version.
  const work = join(T, "work");
  mkdirSync(work);
  const stratusBin = join(app, "node_modules", ".bin", "stratus");
  const init = await sh(stratusBin, ["init", "my-app"], work);
  assert.equal(init.code, 0, init.stderr);
  const scaffold = join(work, "my-app");
  const manifest = readFileSync(join(scaffold, "package.json"), "utf8");
  assert.equal((JSON.parse(manifest) as { dependencies: Record<string, string> }).dependencies["stratus"], `^${own.version}`);
  assert.doesNotMatch(manifest, /file:/);
  const again = await sh(stratusBin, ["init", "my-app"], work);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /my-app already exists and is not empty \(.*package\.json.*\); init writes only into a new or empty directory/);

  // 4. The scaffold's install, pointed at the tarball (the package is not on a registry).
  const scaffoldInstall = await sh("npm", ["install", tarball, ...npmFlags], scaffold);
  assert.equal(scaffoldInstall.code, 0, scaffoldInstall.stderr);

  // 5. `stratus dev` (the scaffold's own bin, as `npx stratus dev` runs it) serves its route,
  //    from worker processes started from dist.
  const dev = spawn(join(scaffold, "node_modules", ".bin", "stratus"), ["dev", "--port", "0", "--workers", "2", "--json"], {
    cwd: scaffold,
    env,
    detached: true,
  });
  children.push(dev);
  let out = "";
  dev.stdout.on("data", (d: Buffer) => (out += d.toString()));
  dev.stderr.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(() => /on http:\/\/127\.0\.0\.1:(\d+)/.test(out), 120_000, `dev to print its address:\n${out}`);
  const port = /on http:\/\/127\.0\.0\.1:(\d+)/.exec(out)![1];
  const res = await fetch(`http://127.0.0.1:${port}/hello/x`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { message: "Hello, x!", visits: 1 });
  // One process: the bin replaced itself (same pid) with a Node that has the snapshot off.
  if (existsSync(`/proc/${dev.pid}/cmdline`))
    assert.match(readFileSync(`/proc/${dev.pid}/cmdline`, "utf8"), /--no-node-snapshot\0.*dist\/cli\/main\.js\0dev\0/);
  const exited = new Promise<number | null>((r) => dev.once("exit", (code) => r(code)));
  dev.kill("SIGINT");
  assert.equal(await exited, 0, out);

  // 6. The scaffold's own test and type check.
  const t = await sh("npm", ["test"], scaffold);
  assert.equal(t.code, 0, t.stdout + t.stderr);
  assert.match(t.stdout, /pass 1/);
  const tc = await sh("npm", ["run", "typecheck"], scaffold);
  assert.equal(tc.code, 0, tc.stdout + tc.stderr);

  // 7. A type error: the scaffold's typecheck and `stratus check` both name the file and line.
  const entry = join(scaffold, "services", "hello", "index.ts");
  writeFileSync(
    entry,
    readFileSync(entry, "utf8").replace('Number((await env.VISITS.get(name)) ?? "0") + 1', 'String(await env.VISITS.get(name)) + 1; const n: number = "x"'),
  );
  const tcBad = await sh("npm", ["run", "typecheck"], scaffold);
  assert.notEqual(tcBad.code, 0);
  const check = await sh("npx", ["stratus", "check"], scaffold);
  assert.equal(check.code, 1, check.stdout + check.stderr);
  assert.match(check.stdout, /services\/hello\/index\.ts:\d+:\d+: error TS2322: Type 'string' is not assignable to type 'number'/);
  assert.match(check.stderr, /1 type errors \(TypeScript/);

  assert.equal(existsSync(join(ROOT, "dist")), distBefore, "no dist/ written into the checkout");
  assert.equal(gitStatus(), statusBefore, "the checkout is as it was");
});

test("an install or a run on Node.js older than 24 fails, naming the version needed", { timeout: 300_000 }, async (t) => {
  const old = ["/usr/bin/node", "/usr/local/bin/node20", "/usr/bin/nodejs"].find(
    (p) => existsSync(p) && Number(spawnSync(p, ["-p", "process.versions.node.split('.')[0]"], { encoding: "utf8" }).stdout.trim()) < 24,
  );
  if (!old) return t.skip("no Node.js older than 24 on this machine");
  // The bin refuses first thing (a package installed with scripts disabled never ran preinstall).
  const bin = await sh(old, [join(ROOT, "bin", "stratus.js"), "--help"], T);
  assert.equal(bin.code, 1);
  assert.match(bin.stderr, /Node\.js \d+\.\d+\.\d+ is too old; Stratus needs Node\.js 24 or later/);
  // `npm install <tarball>` with that Node.js first on PATH: preinstall stops it (npm itself only
  // warns about "engines").
  assert.ok(tarball, "the first test packed the tarball");
  const dir = join(T, "old-node");
  mkdirSync(dir);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "old", private: true }));
  const install = await sh("npm", ["install", tarball, ...npmFlags], dir, { PATH: `${dirname(old)}:${process.env["PATH"] ?? ""}` });
  assert.notEqual(install.code, 0, install.stdout);
  assert.match(install.stderr, /stratus: Node\.js \d+\.\d+\.\d+ is too old; Stratus needs Node\.js 24 or later/);
  assert.ok(!existsSync(join(dir, "node_modules", ".bin", "stratus")), "no stratus command was installed");
});
