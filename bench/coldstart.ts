// Cold start as a user sees it: `stratus dev` with 2 worker processes serves bench/coldstart, whose
// `cold` service scales to zero one second after its last request. Each round waits until it has
// (the access log line of the timed request must say `cold: true`, else the round is discarded),
// then times one request on a new connection, from the client: gateway, instance start, response.
// The same request to `warm` (an instance kept per worker) is timed just before, as the baseline.
// Run by bench/run.ts (BENCH_ONLY=cold) in a fresh process; prints one JSON line.
//   COLD_RUNS (default 30) rounds; COLD_RUNNER=dist runs the compiled package (npm run build).
import { spawn } from "node:child_process";
import { request } from "node:http";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
const RUNS = Number(process.env["COLD_RUNS"] ?? 30);
const IDLE_MS = 1000;
const main = process.env["COLD_RUNNER"] === "dist" ? join(ROOT, "dist/cli/main.js") : join(ROOT, "src/cli/main.ts");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** One GET on a connection of its own; resolves with the status and the ms to the end of the body. */
function timed(port: number, path: string): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = request({ host: "127.0.0.1", port, path, agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
    });
    req.on("error", reject);
    req.end();
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

const port = await freePort();
const child = spawn(
  process.execPath,
  [
    "--no-node-snapshot",
    "--disable-warning=ExperimentalWarning",
    main,
    "dev",
    join(HERE, "coldstart"),
    "--workers",
    "2",
    "--port",
    String(port),
    "--control-port",
    "0",
    "--json",
    "--no-watch",
  ],
  { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } },
);
/** Access log lines of `cold`, in order: whether each was a cold start, and the gateway's own duration. */
const coldLines: { cold: boolean; durationMs: number }[] = [];
let partial = "";
child.stdout.on("data", (d: Buffer) => {
  const lines = (partial + d.toString()).split("\n");
  partial = lines.pop()!;
  for (const line of lines) {
    if (!line.includes('"service":"cold"')) continue;
    try {
      const o = JSON.parse(line) as { cold?: boolean; durationMs?: number; status?: number };
      if (typeof o.status === "number") coldLines.push({ cold: o.cold === true, durationMs: o.durationMs ?? NaN });
    } catch {
      // not a log line
    }
  }
});

const cold: number[] = [];
const server: number[] = [];
const warm: number[] = [];
let discarded = 0;
try {
  for (let end = Date.now() + 30_000; ; await sleep(50)) {
    if (Date.now() > end) throw new Error("stratus dev did not come up in 30 s");
    if ((await timed(port, "/warm").catch(() => ({ status: 0 }))).status === 200) break;
  }
  // Every worker has its warm instance and code caches; the first rounds are left out anyway.
  for (let i = 0; i < RUNS + 3; i++) {
    await sleep(IDLE_MS + 600); // idleTimeout, plus the 100 ms sweep and slack for a loaded machine
    const w = await timed(port, "/warm");
    await sleep(20);
    const before = coldLines.length;
    const c = await timed(port, "/cold");
    if (w.status !== 200 || c.status !== 200) throw new Error(`status ${w.status} / ${c.status}`);
    for (let t = 0; coldLines.length === before && t < 100; t++) await sleep(10); // its log line
    const line = coldLines[before];
    if (i < 3) continue;
    if (!line?.cold) {
      discarded++;
      continue;
    }
    cold.push(c.ms);
    server.push(line.durationMs);
    warm.push(w.ms);
  }
} finally {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGINT");
  await exited;
}
const stats = (xs: number[]): { p50: number; p90: number; p99: number; n: number } => {
  const s = [...xs].sort((a, b) => a - b);
  return { p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99), n: s.length };
};
process.stdout.write(`${JSON.stringify({ cold: stats(cold), server: stats(server), warm: stats(warm), discarded })}\n`);
process.exit(0);
