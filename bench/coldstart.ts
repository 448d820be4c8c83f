// Cold start as a user sees it: `stratus dev` with 2 worker processes serves bench/coldstart, whose
// `cold` service scales to zero one second after its last request. Each round waits until it has
// (the access log line of the timed request must say `cold: true`, else the round is discarded),
// then times one request on a new connection, from the client: gateway, instance start, response.
// The same request to `warm` (an instance kept per worker) is timed just before, as the baseline.
// Run by bench/run.ts (BENCH_ONLY=cold) in a fresh process; prints one JSON line.
//   COLD_RUNS (default 30) rounds; COLD_RUNNER=dist runs the compiled package (npm run build);
//   COLD_MAINS="label=.../src/cli/main.ts,..." runs several checkouts side by side, taking turns.
import { spawn, type ChildProcess } from "node:child_process";
import { request } from "node:http";
import { join } from "node:path";
import { freePort } from "./servers.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
const RUNS = Number(process.env["COLD_RUNS"] ?? 30);
const IDLE_MS = 1000;
const main = process.env["COLD_RUNNER"] === "dist" ? join(ROOT, "dist/cli/main.js") : join(ROOT, "src/cli/main.ts");

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

/** One `stratus dev` under test, and what was measured on it. */
interface Server {
  label: string;
  port: number;
  child: ChildProcess;
  /** Access log lines of `cold`, in order: whether each was a cold start, and the gateway's own duration. */
  coldLines: { cold: boolean; durationMs: number }[];
  cold: number[];
  server: number[];
  warm: number[];
  discarded: number;
}

async function startServer(label: string, main: string): Promise<Server> {
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
  const s: Server = { label, port, child, coldLines: [], cold: [], server: [], warm: [], discarded: 0 };
  let partial = "";
  child.stdout.on("data", (d: Buffer) => {
    const lines = (partial + d.toString()).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"service":"cold"')) continue;
      try {
        const o = JSON.parse(line) as { cold?: boolean; durationMs?: number; status?: number };
        if (typeof o.status === "number") s.coldLines.push({ cold: o.cold === true, durationMs: o.durationMs ?? NaN });
      } catch {
        // not a log line
      }
    }
  });
  for (let end = Date.now() + 30_000; ; await sleep(50)) {
    if (Date.now() > end) throw new Error(`${label}: stratus dev did not come up in 30 s`);
    if ((await timed(port, "/warm").catch(() => ({ status: 0 }))).status === 200) break;
  }
  return s;
}

/** One round on one server: the warm baseline, then the first request after scale to zero. */
async function round(s: Server, keep: boolean): Promise<void> {
  const w = await timed(s.port, "/warm");
  await sleep(20);
  const before = s.coldLines.length;
  const c = await timed(s.port, "/cold");
  if (w.status !== 200 || c.status !== 200) throw new Error(`${s.label}: status ${w.status} / ${c.status}`);
  for (let t = 0; s.coldLines.length === before && t < 100; t++) await sleep(10); // its log line
  const line = s.coldLines[before];
  if (!keep) return;
  if (!line?.cold) {
    s.discarded++;
    return;
  }
  s.cold.push(c.ms);
  s.server.push(line.durationMs);
  s.warm.push(w.ms);
}

// COLD_MAINS="label=path/to/src/cli/main.ts,..." compares checkouts (e.g. a baseline) round by round.
const mains = (process.env["COLD_MAINS"] ?? `this checkout=${main}`).split(",").map((x) => x.split("=") as [string, string]);
const servers: Server[] = [];
try {
  for (const [label, m] of mains) servers.push(await startServer(label, m));
  // The servers take turns, so a noisy moment of the machine does not land on one of them only.
  for (let i = 0; i < RUNS + 3; i++) {
    await sleep(IDLE_MS + 600); // idleTimeout, plus the 100 ms sweep and slack for a loaded machine
    for (const s of servers) await round(s, i >= 3); // the first rounds warm up code caches
  }
} finally {
  for (const s of servers) {
    const exited = new Promise((r) => s.child.once("exit", r));
    s.child.kill("SIGINT");
    await exited;
  }
}
const stats = (xs: number[]): { p50: number; p90: number; p99: number; n: number } => {
  const sorted = [...xs].sort((a, b) => a - b);
  return { p50: pct(sorted, 50), p90: pct(sorted, 90), p99: pct(sorted, 99), n: sorted.length };
};
const out: Record<string, unknown> = {};
for (const s of servers) out[s.label] = { cold: stats(s.cold), server: stats(s.server), warm: stats(s.warm), discarded: s.discarded };
process.stdout.write(`${JSON.stringify(out)}\n`);
process.exit(0);
