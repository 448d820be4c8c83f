// Density of a whole node: `stratus dev` with 2 worker processes serving 1,000 services (all at
// scale zero), then with 100 of them warm (one request each; the default idleTimeout keeps them).
// Resident memory of the primary and of each worker, from /proc. Run by bench/run.ts
// (BENCH_ONLY=density) in a fresh process; prints one JSON line.
//   DENSITY_SERVICES / DENSITY_WARM (default 1000 / 100); DENSITY_RUNNER=dist runs the compiled
//   package (dist/, `npm run build`) instead of the TypeScript sources.
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { freePort } from "./servers.ts";

const N = Number(process.env["DENSITY_SERVICES"] ?? 1000);
const WARM = Number(process.env["DENSITY_WARM"] ?? 100);
const ROOT = new URL("..", import.meta.url).pathname;
const main = process.env["DENSITY_RUNNER"] === "dist" ? join(ROOT, "dist/cli/main.js") : join(ROOT, "src/cli/main.ts");

function get(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", () => resolve(0));
    req.end();
  });
}

/** Resident MB of a process. */
function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Child process ids of `pid`. */
function children(pid: number): number[] {
  const out: number[] = [];
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    const c = readFileSync(`/proc/${pid}/task/${task}/children`, "utf8").trim();
    if (c) out.push(...c.split(" ").map(Number));
  }
  return out;
}

/** The primary's and each worker's resident MB (workers are the primary's node children). */
function measure(primary: number): { primaryMb: number; workersMb: number[] } {
  const workers = children(primary).filter((p) => {
    try {
      return readFileSync(`/proc/${p}/cmdline`, "utf8").includes("worker-main");
    } catch {
      return false;
    }
  });
  return { primaryMb: rssMb(primary), workersMb: workers.map(rssMb).sort((a, b) => a - b) };
}

const tmp = join(ROOT, ".test-tmp");
mkdirSync(tmp, { recursive: true });
const dir = mkdtempSync(join(tmp, "density-node-"));
writeFileSync(join(dir, "s.ts"), `export default { fetch: (r: Request) => new Response("hello from " + new URL(r.url).pathname) };`);
let yaml = "name: dense\nservices:\n";
for (let i = 0; i < N; i++) yaml += `  s${i}:\n    entry: s.ts\n    routes: ["GET /s${i}"]\n`;
writeFileSync(join(dir, "stratus.yaml"), yaml);
const port = await freePort();
const child = spawn(
  process.execPath,
  ["--no-node-snapshot", "--disable-warning=ExperimentalWarning", main, "dev", dir, "--workers", "2", "--port", String(port), "--json", "--no-watch"],
  { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } },
);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
try {
  for (let end = Date.now() + 600_000; (await get(port, `/s${N - 1}`)) !== 200; await sleep(200)) {
    if (Date.now() > end) throw new Error("the 1,000-service stack did not come up in 10 minutes");
  }
  // Let the deploy's garbage and the spares settle.
  await sleep(3000);
  const deployed = measure(child.pid!);
  for (let i = 0; i < WARM; i++) {
    const status = await get(port, `/s${i}`);
    if (status !== 200) throw new Error(`s${i} answered ${status}`);
  }
  await sleep(3000);
  const warm = measure(child.pid!);
  process.stdout.write(`${JSON.stringify({ services: N, warm: WARM, deployed, warmed: warm })}\n`);
} finally {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGINT");
  await exited;
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
