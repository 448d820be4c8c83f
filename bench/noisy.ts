// Issue 10's noisy neighbour: does one service's CPU-bound load leave another's latency alone?
// `stratus dev` (2 workers, NODE_ENV=production) on bench/noisy: the victim b at 10 connections
// flat out, alone, then while the neighbour a saturates every core (bench/noisy/noise.ts: 20
// connections of ~20 ms CPU burns plus requests that loop forever and that exhaust memory).
// Each mode of CPU fairness (STRATUS_CPU_FAIRNESS, docs/architecture.md) takes its turn in every
// round, so a noisy minute on the shared machine does not land on one side only; the table gives
// the median and the spread (min-max) over the rounds.
import { spawn } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import autocannon from "autocannon";
import { freePort, until, stop } from "./servers.ts";

const HERE = new URL(".", import.meta.url).pathname;
const ROOT = join(HERE, "..");
/** BENCH_NOISE=burn: the neighbour sends only its CPU-burning requests (issue 10's mix is the default). */
const NOISE = process.env["BENCH_NOISE"] === "burn" ? "burn" : "mixed";

/** One round of one mode: b alone, b beside the saturating neighbour, and what the neighbour got done. */
export interface NoisyRound {
  alone: { p50: number; p99: number; rps: number; errors: number };
  saturated: { p50: number; p99: number; rps: number; errors: number };
  /** The neighbour's CPU-burning requests answered (and failed) per second, over its whole run. */
  neighbour: { ok: number; failed: number };
  loadavg: number;
}

/** The figures of one mode over every round. */
export interface NoisyMode {
  rounds: NoisyRound[];
}

async function victim(url: string, seconds: number): Promise<NoisyRound["alone"]> {
  const r = await autocannon({ url, connections: 10, duration: seconds });
  return { p50: r.latency.p50, p99: r.latency.p99, rps: r.requests.average, errors: r.errors + r.non2xx };
}

/** One round of one mode, on a fresh `stratus dev`. */
async function round(mode: string, seconds: number): Promise<NoisyRound> {
  const port = await freePort();
  const dev = spawn(
    process.execPath,
    [join(ROOT, "bin/stratus.js"), "dev", join(HERE, "noisy"), "--port", String(port), "--control-port", "0", "--workers", "2", "--json", "--no-watch"],
    { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NODE_OPTIONS: "", NODE_ENV: "production", STRATUS_CPU_FAIRNESS: mode } },
  );
  try {
    const base = `http://127.0.0.1:${port}`;
    await until(`${base}/b`);
    await until(`${base}/a/hello`);
    await victim(`${base}/b`, 2); // warm-up
    const alone = await victim(`${base}/b`, seconds);
    const noise = spawn(process.execPath, [join(HERE, "noisy/noise.ts"), base, String(seconds + 4), NOISE], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    noise.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const ended = new Promise((r) => noise.once("exit", r));
    await new Promise((r) => setTimeout(r, 2000)); // the neighbour at full strength
    const saturated = await victim(`${base}/b`, seconds);
    await ended;
    const n = JSON.parse(out || "{}") as { ok?: number; failed?: number };
    return { alone, saturated, neighbour: { ok: n.ok ?? NaN, failed: n.failed ?? NaN }, loadavg: loadavg()[0]! };
  } finally {
    await stop(dev);
  }
}

/** Every mode in every round, interleaved. */
export async function noisyBench(modes: readonly string[], rounds: number, seconds: number): Promise<Record<string, NoisyMode>> {
  const out: Record<string, NoisyMode> = {};
  for (let i = 0; i < rounds; i++) for (const m of modes) (out[m] ??= { rounds: [] }).rounds.push(await round(m, seconds));
  return out;
}

/** Median and spread of a list. */
export function spread(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[Math.floor((s.length - 1) / 2)]!, min: s[0]!, max: s.at(-1)! };
}

const f = (n: number, d = 1): string => n.toFixed(d);
const ms = (xs: number[], d = 1): string => {
  const s = spread(xs);
  return `${f(s.median, d)} [${f(s.min, d)}-${f(s.max, d)}]`;
};

/** The table's lines (median [min-max] over the rounds). */
export function noisyTable(res: Record<string, NoisyMode>): string[] {
  const rows = Object.entries(res).map(([mode, { rounds }]) => {
    const r = (g: (x: NoisyRound) => number): number[] => rounds.map(g);
    return [
      `  fairness ${mode} (${rounds.length} rounds, load avg ${ms(r((x) => x.loadavg))})`,
      `    b alone          p99 ms ${ms(r((x) => x.alone.p99)).padEnd(20)} req/s ${ms(
        r((x) => x.alone.rps),
        0,
      )}`,
      `    b beside a       p99 ms ${ms(r((x) => x.saturated.p99)).padEnd(20)} req/s ${ms(
        r((x) => x.saturated.rps),
        0,
      )}   errors ${r((x) => x.saturated.errors).join(",")}`,
      `    p99 vs alone     ${ms(
        r((x) => x.saturated.p99 / x.alone.p99),
        2,
      ).padEnd(27)} req/s vs alone ${ms(
        r((x) => x.saturated.rps / x.alone.rps),
        2,
      )}   (target p99 <= 2x)`,
      `    a's burns        ok/s ${ms(
        r((x) => x.neighbour.ok),
        0,
      )}   failed/s ${ms(
        r((x) => x.neighbour.failed),
        0,
      )}`,
    ];
  });
  return [
    `Noisy neighbour (issue 10): b at 10 connections; a saturating 2 cores (${NOISE === "burn" ? "CPU burns only" : "burns, loops, OOM"}); median [min-max]`,
    ...rows.flat(),
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const modes = (process.env["BENCH_FAIRNESS"] ?? "off,admission").split(",");
  const res = await noisyBench(modes, Number(process.env["BENCH_ROUNDS"] ?? 3), Number(process.env["BENCH_SECONDS"] ?? 10));
  process.stdout.write(`${process.argv.includes("--json") ? JSON.stringify(res, null, 2) : noisyTable(res).join("\n")}\n`);
  process.exit(0);
}
