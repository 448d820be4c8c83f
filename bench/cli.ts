// `BENCH_ONLY=cli npm run bench` (or `node bench/cli.ts [--json]`): wall time of `stratus --help`
// and `stratus status` beside `node -e 0`, in the same run. `stratus` is measured twice: installed
// from a packed tarball into a temporary project (compiled JavaScript, as users run it) and from
// this checkout (TypeScript, types stripped by Node). `status` talks to a running `stratus start`
// node (1 worker) started from the installed package. Each round runs every command once, in turn,
// so the machine's drift hits them alike; BENCH_CLI_RUNS rounds (default 20), p50 and p90 reported.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";

const ROOT = new URL("..", import.meta.url).pathname;
const RUNS = Number(process.env["BENCH_CLI_RUNS"] ?? 20);
const json = process.argv.includes("--json");
const env = { ...process.env, NODE_OPTIONS: "", NODE_COMPILE_CACHE: undefined };

/** Packs a copy of the checkout (prepack builds dist/ there, not here) and installs it into a new project. */
function installPackage(dir: string): string {
  const copy = join(dir, "checkout");
  cpSync(ROOT, copy, { recursive: true, filter: (src) => !/^(node_modules|\.git|dist|\.test-tmp[^/]*)(\/|$)/.test(relative(ROOT, src)) });
  symlinkSync(join(ROOT, "node_modules"), join(copy, "node_modules"));
  const out = execFileSync("npm", ["pack", "--json", "--pack-destination", dir], { cwd: copy, env, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
  const [info] = JSON.parse(out.slice(out.indexOf("["))) as { filename: string }[];
  const app = join(dir, "app");
  mkdirSync(app);
  writeFileSync(join(app, "package.json"), JSON.stringify({ name: "bench-app", private: true }));
  execFileSync("npm", ["install", join(dir, info!.filename), "--prefer-offline", "--no-audit", "--no-fund"], { cwd: app, env, stdio: "ignore" });
  return join(app, "node_modules", "stratus", "bin", "stratus.js");
}

/** Starts a node from `bin`; resolves with its control API URL and token file. */
async function startNode(bin: string, data: string): Promise<{ url: string; tokenFile: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, [bin, "start", "--data", data, "--port", "0", "--control-port", "0", "--workers", "1", "--json"], {
    env,
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  const end = Date.now() + 60_000;
  let m: RegExpExecArray | null;
  // The token file is written once the control API answers.
  while (!(m = /control API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)) || !existsSync(join(data, "admin-token"))) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`stratus start did not come up:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async (): Promise<void> => {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  };
  return { url: m[1]!, tokenFile: join(data, "admin-token"), stop };
}

function wall(args: string[], extraEnv: NodeJS.ProcessEnv = {}): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(process.execPath, args, { env: { ...env, ...extraEnv }, stdio: ["ignore", "ignore", "pipe"] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`node ${args.join(" ")} exited ${r.status}: ${r.stderr.toString()}`);
  return ms;
}

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

export interface CliFigures {
  [name: string]: { p50: number; p90: number; n: number };
}

const dir = mkdtempSync(join(tmpdir(), "stratus-bench-cli-"));
try {
  const pkgBin = installPackage(dir);
  const repoBin = join(ROOT, "bin", "stratus.js");
  const node = await startNode(pkgBin, join(dir, "data"));
  try {
    const statusEnv = { STRATUS_URL: node.url, STRATUS_TOKEN: readFileSync(node.tokenFile, "utf8").trim(), HOME: dir };
    const cases: [string, string[], NodeJS.ProcessEnv?][] = [
      ["node -e 0 (baseline)", ["-e", "0"]],
      ["node --no-node-snapshot -e 0", ["--no-node-snapshot", "-e", "0"]],
      ["stratus --help (installed package)", [pkgBin, "--help"]],
      ["stratus status (installed package)", [pkgBin, "status"], statusEnv],
      ["stratus --help (checkout, .ts)", [repoBin, "--help"]],
      ["stratus status (checkout, .ts)", [repoBin, "status"], statusEnv],
    ];
    // One unmeasured round: V8's compile cache and the page cache are warm, as for a user's second command.
    for (const [, args, e] of cases) wall(args, e);
    const samples = new Map<string, number[]>(cases.map(([name]) => [name, []]));
    for (let i = 0; i < RUNS; i++) for (const [name, args, e] of cases) samples.get(name)!.push(wall(args, e));
    const figures: CliFigures = {};
    for (const [name, s] of samples) {
      s.sort((a, b) => a - b);
      figures[name] = { p50: pct(s, 50), p90: pct(s, 90), n: s.length };
    }
    const base = figures["node -e 0 (baseline)"]!.p50;
    if (json) process.stdout.write(`${JSON.stringify({ cli: figures })}\n`);
    else {
      const lines = [
        "",
        "CLI start-up, wall time per command (target: stratus --help < 150 ms)   p50 ms  p90 ms  n   p50 vs node -e 0",
        ...Object.entries(figures).map(
          ([k, v]) => `  ${k.padEnd(70)} ${v.p50.toFixed(1).padStart(6)}  ${v.p90.toFixed(1).padStart(6)}  ${v.n}  ${(v.p50 / base).toFixed(2)}x`,
        ),
      ];
      process.stdout.write(`${lines.join("\n")}\n`);
    }
  } finally {
    await node.stop();
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
