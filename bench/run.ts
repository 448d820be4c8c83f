// `npm run bench`: every benchmark of the foundation in one run, on this machine, side by side
// with its baseline, printed as one comparison table (and as JSON with --json).
//   1. HTTP hello world: Stratus (`stratus dev`, default workers) vs a bare Node http.createServer,
//      same load generator (autocannon, 50 connections).
//   2. Cold start: new isolate (or a pre-warmed blank one) + load the bundle + first response; and
//      as a user sees it, the first request through `stratus dev`'s gateway after scale to zero.
//   3. Save to first response from the new code, through `stratus dev`'s watcher.
//   4. Noisy neighbour (bench/noisy.ts): a victim's latency beside a neighbour that saturates the CPU.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import autocannon from "autocannon";
import { bundleService } from "../src/build/index.ts";
import { loadStack } from "../src/config/index.ts";
import { DevServer } from "../src/dev/index.ts";
import { Instance, createBlankIsolate } from "../src/runtime/instance.ts";
import { silentLogger } from "../src/telemetry/index.ts";
import { noisyBench, noisyTable } from "./noisy.ts";
import { freePort, until, stop } from "./servers.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
const DURATION = Number(process.env["BENCH_SECONDS"] ?? 10);
const json = process.argv.includes("--json");

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** CPU time (user + system, µs) of a process and all its descendants, from /proc. */
function treeCpuMicros(pid: number): number {
  const tick = 1e6 / 100; // USER_HZ is 100 on Linux
  let total = 0;
  const visit = (p: number): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) * tick;
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim();
        for (const c of children ? children.split(" ") : []) visit(Number(c));
      }
    } catch {
      // the process ended meanwhile
    }
  };
  visit(pid);
  return total;
}

async function load(url: string, pid: number): Promise<HttpFigures> {
  // Warm up, then measure.
  await autocannon({ url, connections: 50, duration: 2 });
  const cpu0 = treeCpuMicros(pid);
  const r = await autocannon({ url, connections: 50, duration: DURATION });
  const cpu = treeCpuMicros(pid) - cpu0;
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, cpuPerRequest: cpu / r.requests.total };
}

/** Throughput, latency, and CPU µs the server processes spent per request. */
type HttpFigures = { rps: number; p50: number; p99: number; errors: number; cpuPerRequest: number };

/** One server under load: starts it, waits until it answers, measures, stops it. */
async function measureServer(args: string[], path: string): Promise<HttpFigures> {
  const port = await freePort();
  // Log lines (one per request for Stratus) go to /dev/null: written, not read.
  const child = spawn(process.execPath, [...args, "--port", String(port)], {
    stdio: ["ignore", "ignore", "inherit"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  try {
    await until(`http://127.0.0.1:${port}${path}`);
    return await load(`http://127.0.0.1:${port}${path}`, child.pid!);
  } finally {
    await stop(child);
  }
}

/**
 * Bare Node and Stratus take turns, ROUNDS times, and each reports its median round: the machine
 * is shared, so interleaving keeps a noisy minute from landing on one side only.
 */
async function httpBench(): Promise<Record<string, HttpFigures>> {
  const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 3);
  const dev = (workers: number): string[] => [
    join(ROOT, "bin/stratus.js"),
    "dev",
    join(HERE, "hello"),
    "--workers",
    String(workers),
    "--control-port",
    "0",
    "--json",
    "--no-watch",
  ];
  const servers: Record<string, [string[], string]> = {
    "bare Node http.createServer": [[join(HERE, "bare-node.ts")], "/"],
    "bare Node, 2 cluster workers": [[join(HERE, "bare-node.ts"), "--workers", "2"], "/"],
    // The default config (`stratus dev`'s default workers on this machine: one per core).
    "Stratus, 2 workers, default scale": [dev(2), "/"],
    "Stratus, 1 worker, default scale": [dev(1), "/"],
    // Tuned: one worker (the load generator takes the other core) and one instance for everything.
    "Stratus, 1 worker, tuned (max 1, conc. 256)": [dev(1), "/tuned"],
    // One request per instance: scale.concurrency 1, the default until it became 64.
    "Stratus, 2 workers, concurrency 1": [dev(2), "/one"],
  };
  const runs: Record<string, HttpFigures[]> = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, [args, path]] of Object.entries(servers)) (runs[name] ??= []).push(await measureServer(args, path));
  }
  const out: Record<string, HttpFigures> = {};
  for (const [name, list] of Object.entries(runs)) {
    list.sort((a, b) => a.rps - b.rps);
    out[name] = list[Math.floor(list.length / 2)]!;
  }
  return out;
}

async function coldStart(): Promise<Record<string, { p50: number; p99: number; n: number }>> {
  const stack = loadStack(join(HERE, "hello"));
  const svc = stack.services[0]!;
  const bundle = await bundleService(svc.entry, stack.dir);
  const code = { code: bundle.code, hash: bundle.hash };
  const host = { io: async (): Promise<null> => null, log: (): void => undefined };
  const out: Record<string, { p50: number; p99: number; n: number }> = {};
  for (const spare of [false, true]) {
    const times: number[] = [];
    const N = 300;
    for (let i = 0; i < N + 20; i++) {
      // A pre-warmed blank isolate is made ahead of time, off the request path.
      const blank = spare ? createBlankIsolate(svc.limits.memoryMb) : undefined;
      const t0 = performance.now();
      const inst = await Instance.create(svc, code, host, () => undefined, blank);
      const { result, done } = await inst.invoke({ method: "GET", url: "http://x/", headers: ["host", "x"], body: null, requestId: "r" });
      const t = performance.now() - t0;
      await done;
      inst.dispose();
      if (result.status !== 200) throw new Error(`cold start request failed: ${JSON.stringify(result)}`);
      if (i >= 20) times.push(t);
    }
    times.sort((a, b) => a - b);
    out[spare ? "from a pre-warmed blank isolate" : "new isolate from the snapshot"] = { p50: pct(times, 50), p99: pct(times, 99), n: times.length };
  }
  return out;
}

async function reloadBench(): Promise<{ p50: number; p99: number; n: number }> {
  const dir = mkdtempSync(join(ROOT, ".test-tmp-bench-"));
  cpSync(join(HERE, "hello"), dir, { recursive: true });
  const file = join(dir, "services/hello/index.ts");
  const original = readFileSync(file, "utf8");
  const dev = new DevServer({ dir, port: 0, host: "127.0.0.1", workers: 2, json: true, logLevel: "silent", logger: silentLogger(), print: () => undefined });
  const port = await dev.start();
  const times: number[] = [];
  try {
    for (let i = 0; i < 20; i++) {
      const marker = `v${i}-${Date.now()}`;
      const t0 = performance.now();
      writeFileSync(file, original.replace("hello world", marker));
      for (;;) {
        const body = await (await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: "close" } })).text();
        if (body === marker) break;
        if (performance.now() - t0 > 10_000) throw new Error("new code not served within 10 s");
      }
      times.push(performance.now() - t0);
      // Every worker must serve the new code before the next save.
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await dev.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99), n: times.length };
}

const f = (n: number, d = 1): string => n.toFixed(d);
type DensityFigures = { services: number; warm: number; instances: number; baselineMb: number; deployedMb: number; warmMb: number; deployMsPerService: number };
type NodeMemory = { primaryMb: number; workersMb: number[] };
type NodeDensity = { services: number; warm: number; deployed: NodeMemory; warmed: NodeMemory };

/** Runs a bench script in a fresh process (so nothing else of the bench counts) and parses its JSON line. */
async function child<T>(args: string[], env: Record<string, string> = {}): Promise<T> {
  const c = spawn(process.execPath, ["--no-node-snapshot", ...args], { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, ...env } });
  let out = "";
  c.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => c.once("exit", r));
  return JSON.parse(out) as T;
}

/**
 * Density in one process, from the TypeScript sources (Node strips the types: its WebAssembly
 * type stripper is loaded) and compiled (dist/, as the installed package runs); and of a whole
 * 2-worker `stratus dev` node, both ways. The compiled rows need `npm run build` first.
 */
async function densityBench(): Promise<{ ts: DensityFigures; js: DensityFigures | null; nodeTs: NodeDensity; nodeJs: NodeDensity | null }> {
  const built = existsSync(join(ROOT, "dist/cli/main.js"));
  let js: DensityFigures | null = null;
  if (built) {
    // The same script with its imports pointed at dist/ and its types stripped ahead of time.
    const { transformSync } = await import("esbuild");
    const source = readFileSync(join(HERE, "density.ts"), "utf8")
      .replaceAll('"../src/', `"${ROOT}/dist/`)
      .replace(/(\/dist\/[\w/-]+)\.ts"/g, '$1.js"');
    const file = join(ROOT, ".test-tmp", "density-compiled.mjs");
    mkdirSync(join(ROOT, ".test-tmp"), { recursive: true });
    writeFileSync(file, transformSync(source, { loader: "ts", format: "esm" }).code);
    js = await child<DensityFigures>([file]);
  }
  return {
    ts: await child<DensityFigures>([join(HERE, "density.ts")]),
    js,
    nodeTs: await child<NodeDensity>([join(HERE, "density-node.ts")]),
    nodeJs: built ? await child<NodeDensity>([join(HERE, "density-node.ts")], { DENSITY_RUNNER: "dist" }) : null,
  };
}

type ColdFigures = { p50: number; p90: number; p99: number; n: number };
type EndToEndCold = { cold: ColdFigures; server: ColdFigures; warm: ColdFigures; discarded: number };

/** Cold start through the gateway of `stratus dev` (2 workers), in a fresh process (bench/coldstart.ts); by checkout. */
async function coldEndToEnd(): Promise<Record<string, EndToEndCold>> {
  const child = spawn(process.execPath, ["--no-node-snapshot", join(HERE, "coldstart.ts")], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once("exit", r));
  return JSON.parse(out) as Record<string, EndToEndCold>;
}

type EventRow = { throughput: number; p50: number; p99: number; durability: string } | { error: string };

/** Durable events vs Redis Streams and NATS JetStream, in a fresh process (bench/events.ts). */
async function eventsBench(): Promise<Record<string, EventRow>> {
  const child = spawn(process.execPath, ["--no-node-snapshot", join(HERE, "events.ts")], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once("exit", r));
  return JSON.parse(out) as Record<string, EventRow>;
}

type DeployFigures = { stratus: { p50: number; p99: number }; miniflare: { p50: number; p99: number } | { error: string }; rounds: number };

/** Deploy to first new response on a node vs Miniflare's setOptions, in a fresh process (bench/deploy.ts). */
async function deployBench(): Promise<DeployFigures> {
  const child = spawn(process.execPath, ["--no-node-snapshot", join(HERE, "deploy.ts")], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  await new Promise((r) => child.once("exit", r));
  return JSON.parse(out) as DeployFigures;
}

// BENCH_ONLY=http|cold|reload|density|noisy|events|deploy runs one part (for quick iterations); the default is all of them.
const only = process.env["BENCH_ONLY"];
const http = !only || only === "http" ? await httpBench() : {};
const cold = !only || only === "cold" ? await coldStart() : {};
const coldE2e = !only || only === "cold" ? await coldEndToEnd() : null;
const reload = !only || only === "reload" ? await reloadBench() : { p50: NaN, p99: NaN, n: 0 };
const density = !only || only === "density" ? await densityBench() : null;
// Issue 10's saturating neighbour, with CPU fairness off and on (BENCH_FAIRNESS lists the modes).
const noisy =
  !only || only === "noisy"
    ? await noisyBench((process.env["BENCH_FAIRNESS"] ?? "off,admission").split(","), Number(process.env["BENCH_ROUNDS"] ?? 3), DURATION)
    : null;
const events = !only || only === "events" ? await eventsBench() : null;
const deploy = !only || only === "deploy" ? await deployBench() : null;
const bare = http["bare Node http.createServer"] ?? { rps: NaN };

if (json) {
  process.stdout.write(`${JSON.stringify({ http, cold, coldE2e, reload, density, noisy, events, deploy }, null, 2)}\n`);
} else {
  const lines = [
    `Stratus benchmarks (${new Date().toISOString()}, node ${process.version}, ${DURATION}s per HTTP run, median of ${process.env["BENCH_ROUNDS"] ?? 3} interleaved rounds, autocannon 50 connections)`,
    "",
    "HTTP hello world (logs on)                     req/s     p50 ms  p99 ms  errors  CPU us/req  ratio to bare Node (target >= 0.8)",
    ...Object.entries(http).map(
      ([k, v]) =>
        `  ${k.padEnd(44)} ${f(v.rps, 0).padStart(7)}  ${f(v.p50).padStart(6)}  ${f(v.p99).padStart(6)}  ${String(v.errors).padStart(6)}  ${f(v.cpuPerRequest).padStart(10)}  ${f(v.rps / bare.rps, 2)}`,
    ),
    "",
    "Cold start: isolate + load bundle + first response     p50 ms  p99 ms  n   (target p50 < 5, p99 < 20)",
    ...Object.entries(cold).map(([k, v]) => `  ${k.padEnd(52)} ${f(v.p50, 2).padStart(6)}  ${f(v.p99, 2).padStart(6)}  ${v.n}`),
    ...(coldE2e
      ? [
          "",
          "Cold start through the gateway, stratus dev, 2 workers  p50 ms  p90 ms  p99 ms  n   (target p50 < 5)",
          ...Object.entries(coldE2e).flatMap(([label, c]) => [
            `  ${label}: first request after scale to zero (client)`,
            `                                                       ${f(c.cold.p50, 2).padStart(6)}  ${f(c.cold.p90, 2).padStart(6)}  ${f(c.cold.p99, 2).padStart(6)}  ${c.cold.n}${c.discarded ? `  (${c.discarded} rounds found an instance and were left out)` : ""}`,
            `    the gateway's own duration of it (access log)      ${f(c.server.p50, 2).padStart(6)}  ${f(c.server.p90, 2).padStart(6)}  ${f(c.server.p99, 2).padStart(6)}  ${c.server.n}`,
            `    a warm service, same way, same rounds (baseline)   ${f(c.warm.p50, 2).padStart(6)}  ${f(c.warm.p90, 2).padStart(6)}  ${f(c.warm.p99, 2).padStart(6)}  ${c.warm.n}`,
          ]),
        ]
      : []),
    "",
    "Save a file -> first response from the new code        p50 ms  p99 ms  n   (target < 1000)",
    `  stratus dev, 2 workers                               ${f(reload.p50).padStart(6)}  ${f(reload.p99).padStart(6)}  ${reload.n}`,
    "",
    "Density: 1,000 deployed, 100 warm                     RSS MB  (target: 1,000 deployed + 100 warm < 300)",
    ...(density
      ? [
          ...[
            ["one process, TypeScript sources", density.ts],
            ["one process, compiled (dist/)", density.js],
          ].flatMap(([label, d]) =>
            d && typeof d === "object"
              ? [
                  `  ${label as string}`,
                  `    empty runtime                                      ${f(d.baselineMb, 0).padStart(6)}`,
                  `    ${d.services} services deployed (scale to zero)          ${f(d.deployedMb, 0).padStart(6)}  (${f(d.deployMsPerService, 2)} ms per deploy)`,
                  `    ... and ${d.warm} of them warm (${d.instances} instances)           ${f(d.warmMb, 0).padStart(6)}  (${f((d.warmMb - d.deployedMb) / Math.max(1, d.instances), 2)} MB per warm instance)`,
                ]
              : [`  ${label as string}: not measured (run npm run build first)`],
          ),
          ...[
            ["stratus dev, 2 workers, TypeScript sources", density.nodeTs],
            ["stratus dev, 2 workers, compiled (dist/)", density.nodeJs],
          ].flatMap(([label, d]) => {
            if (!d || typeof d !== "object") return [`  ${label as string}: not measured (run npm run build first)`];
            const n = d;
            const row = (what: string, m: NodeMemory): string =>
              `    ${what.padEnd(50)} ${f(m.primaryMb + m.workersMb.reduce((a, b) => a + b, 0), 0).padStart(6)}  (primary ${f(m.primaryMb, 0)}, workers ${m.workersMb.map((w) => f(w, 0)).join(" + ")})`;
            return [
              `  ${label as string}, whole node`,
              row(`${n.services} services deployed (scale to zero)`, n.deployed),
              row(`... and ${n.warm} of them warm`, n.warmed),
            ];
          }),
        ]
      : []),
    "",
    ...(noisy ? [...noisyTable(noisy), ""] : []),
    "Deploy a changed service -> first response from it       p50 ms  p99 ms  n   (target p50 < 100)",
    ...(deploy
      ? [
          `  stratus start, 2 workers, via the control API        ${f(deploy.stratus.p50).padStart(6)}  ${f(deploy.stratus.p99).padStart(6)}  ${deploy.rounds}`,
          "error" in deploy.miniflare
            ? `  Miniflare setOptions (reference)                     not measured: ${deploy.miniflare.error}`
            : `  Miniflare setOptions (reference)                     ${f(deploy.miniflare.p50).padStart(6)}  ${f(deploy.miniflare.p99).padStart(6)}  ${deploy.rounds}`,
          "",
        ]
      : []),
    "Durable events, publish -> handler done, one process   events/s  p50 ms  p99 ms at 5,000/s  (target >= 40,000/s; p99 < 10 ms)",
    ...(events
      ? Object.entries(events).flatMap(([k, v]) => {
          const name = { stratus: "Stratus, embedded SQLite store", redis: "Redis Streams (reference)", nats: "NATS JetStream (reference)" }[k] ?? k;
          if ("error" in v) return [`  ${name.padEnd(52)} not measured: ${v.error}`];
          return [
            `  ${name.padEnd(52)} ${f(v.throughput, 0).padStart(8)}  ${f(v.p50, 2).padStart(6)}  ${f(v.p99, 2).padStart(6)}`,
            `    durability: ${v.durability}`,
          ];
        })
      : []),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
// BENCH_ONLY=cli: CLI start-up (bench/cli.ts prints its own table).
if (!only || only === "cli") await import("./cli.ts");
process.exit(0);
