// What `stratus` loads and starts: `--help` and the commands that only talk to a node run in the
// one process the shell started, without isolated-vm, esbuild or SQLite; a command that runs
// isolates replaces that process (execve, same pid) with Node's snapshot off, and starts no
// second CLI process. Every run records what it resolved through test/helpers/record-loads.ts.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const BIN = new URL("../bin/stratus.js", import.meta.url).pathname;
const RECORDER = new URL("./helpers/record-loads.ts", import.meta.url).pathname;
const run = promisify(execFile);

interface Image {
  pid: number;
  execArgv: string[];
  loaded: string[];
  moduleLoadList: string[];
  spawned: string[][];
  execve: string[] | null;
}

let project: TempProject;
let control = "";
const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((c) => c()));

/** Runs the CLI as a shell would (no NODE_OPTIONS of the suite) and returns each process image it went through. */
async function stratus(args: string[]): Promise<{ code: number; stdout: string; stderr: string; images: Image[] }> {
  const record = join(project.dir, `record-${Math.random().toString(36).slice(2)}.jsonl`);
  const env = { ...process.env, NODE_OPTIONS: `--import=${RECORDER}`, STRATUS_LOAD_RECORD: record };
  let r: { code: number; stdout: string; stderr: string };
  try {
    const o = await run(process.execPath, [BIN, ...args], { env, cwd: project.dir });
    r = { code: 0, stdout: o.stdout, stderr: o.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    r = { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
  const images = readFileSync(record, "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Image);
  rmSync(record);
  return { ...r, images };
}

/** The runtime, the bundler or SQLite, among what a process image loaded. */
function heavy(image: Image): string[] {
  return [
    ...image.loaded.filter((u) => /\/node_modules\/(isolated-vm|esbuild)\/|^node:sqlite$/.test(u)),
    ...image.moduleLoadList.filter((m) => /\bsqlite\b/.test(m)),
  ];
}

before(async () => {
  project = tempProject({
    "stratus.yaml": 'name: s\nservices:\n  a:\n    entry: a.ts\n    routes: ["GET /"]\n',
    "a.ts": "export default { fetch: () => new Response('up') };",
  });
  cleanups.push(() => project.remove());
  // A real control API for `status` and `events` to talk to.
  // Its own process group, so that nothing it started outlives the test even if the bin spawned a child.
  const dev = spawn(process.execPath, [BIN, "dev", project.dir, "--port", "0", "--workers", "1", "--json"], {
    env: { ...process.env, NODE_OPTIONS: "" },
    detached: true,
  });
  cleanups.push(() => {
    try {
      process.kill(-dev.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  });
  let out = "";
  dev.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await waitFor(() => /control API on (http:\/\/127\.0\.0\.1:\d+)/.test(out), 30_000, "dev to print its control API");
  control = /control API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
});

test("--help, --version and commands that talk to a node run in one process, without isolated-vm, esbuild or SQLite", async () => {
  const cases: [string[], RegExp][] = [
    [["--help"], /Usage: stratus/],
    [["--version"], /^\d+\.\d+\.\d+/],
    [["dev", "--help"], /Usage: stratus dev/],
    [["status", "--url", control], /stack "s" at/],
    [["status", "--url", control, "--json"], /"stack":"s"/],
    [["events", "list", "--url", control], /\S/],
    [["init", "--help"], /Usage: stratus init/],
  ];
  for (const [args, expected] of cases) {
    const r = await stratus(args);
    const what = `stratus ${args.join(" ")}`;
    assert.equal(r.code, 0, `${what}: ${r.stderr}`);
    assert.match(r.stdout, expected, what);
    assert.equal(r.images.length, 1, `${what}: one process image, no execve`);
    const [image] = r.images as [Image];
    assert.equal(image.execve, null, what);
    assert.ok(!image.execArgv.includes("--no-node-snapshot"), `${what}: runs with Node's startup snapshot`);
    assert.deepEqual(heavy(image), [], `${what} loaded none of isolated-vm, esbuild, node:sqlite`);
    assert.deepEqual(image.spawned, [], `${what} started no child process`);
  }
});

test("a command that runs isolates replaces the process (same pid) with the snapshot off, and starts no second CLI", async () => {
  const r = await stratus(["check", project.dir]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ok: stack "s", 1 services built and loaded/);
  assert.equal(r.images.length, 2, "the first image execve's into the second");
  const [first, second] = r.images as [Image, Image];
  assert.equal(second.pid, first.pid, "the same process");
  assert.ok(first.execve?.includes("--no-node-snapshot"), JSON.stringify(first.execve));
  assert.deepEqual(heavy(first), [], "the first image loaded nothing heavy before replacing itself");
  assert.ok(second.execArgv.includes("--no-node-snapshot"));
  assert.equal(second.execve, null);
  assert.ok(
    second.loaded.some((u) => u.includes("/node_modules/isolated-vm/")),
    "the runtime ran in the replacement",
  );
  const cli = [...first.spawned, ...second.spawned].filter((argv) => argv.some((a) => /bin\/stratus\.js$|cli\/main\.(ts|js)$/.test(a)));
  assert.deepEqual(cli, [], "no child process runs the CLI");
});
