// What scale.concurrency does to a hello world and to a CPU-bound handler (about 2 ms of CPU per
// request), in one `stratus dev` (2 workers) on bench/concurrency: the figures the default was
// chosen from (docs/stack-file.md, docs/benchmarks.md). Run: node --no-node-snapshot bench/concurrency.ts
// (BENCH_SECONDS per run, default 5; BENCH_ROUNDS interleaved rounds, default 2, median reported).
import { spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { join } from "node:path";
import autocannon from "autocannon";

const HERE = new URL(".", import.meta.url).pathname;
const DURATION = Number(process.env["BENCH_SECONDS"] ?? 5);
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 2);

/** CPU time (µs) of a process tree, from /proc. */
function treeCpuMicros(pid: number): number {
  let total = 0;
  const visit = (p: number): void => {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(fields[11]) + Number(fields[12])) * 1e4;
      for (const task of readdirSync(`/proc/${p}/task`)) {
        const children = readFileSync(`/proc/${p}/task/${task}/children`, "utf8").trim();
        for (const c of children ? children.split(" ") : []) visit(Number(c));
      }
    } catch {
      // gone meanwhile
    }
  };
  visit(pid);
  return total;
}

const port = await new Promise<number>((resolve) => {
  const srv = createServer().listen(0, "127.0.0.1", () => {
    const { port } = srv.address() as AddressInfo;
    srv.close(() => resolve(port));
  });
});
const dev = spawn(
  process.execPath,
  [join(HERE, "../bin/stratus.js"), "dev", join(HERE, "concurrency"), "--workers", "2", "--port", String(port), "--control-port", "0", "--json", "--no-watch"],
  { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, NODE_OPTIONS: "" } },
);
const paths = ["/hello/c1", "/hello/c4", "/hello/c16", "/hello/c64", "/hello/c256", "/cpu/c1", "/cpu/c16", "/cpu/c64"];
type Row = { rps: number; p50: number; p99: number; errors: number; cpu: number };
const runs: Record<string, Row[]> = {};
try {
  for (const p of paths) {
    for (let end = Date.now() + 30_000; ;) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}${p}`)).ok) break;
      } catch {
        // not up yet
      }
      if (Date.now() > end) throw new Error(`${p} did not answer`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  for (let round = 0; round < ROUNDS; round++) {
    for (const p of paths) {
      const url = `http://127.0.0.1:${port}${p}`;
      await autocannon({ url, connections: 50, duration: 2 });
      const cpu0 = treeCpuMicros(dev.pid!);
      const r = await autocannon({ url, connections: 50, duration: DURATION });
      const cpu = (treeCpuMicros(dev.pid!) - cpu0) / Math.max(1, r.requests.total);
      (runs[p] ??= []).push({ rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, cpu });
    }
  }
} finally {
  dev.kill("SIGINT");
  await new Promise((r) => dev.once("exit", r));
}
const lines = [
  `scale.concurrency, stratus dev with 2 workers, autocannon 50 connections, ${DURATION}s, median of ${ROUNDS} rounds`,
  "  path            req/s   p50 ms  p99 ms  errors  CPU us/req",
];
for (const p of paths) {
  const list = runs[p]!.sort((a, b) => a.rps - b.rps);
  const m = list[Math.floor(list.length / 2)]!;
  lines.push(
    `  ${p.padEnd(12)} ${m.rps.toFixed(0).padStart(7)}  ${m.p50.toFixed(1).padStart(6)}  ${m.p99.toFixed(1).padStart(6)}  ${String(m.errors).padStart(6)}  ${m.cpu.toFixed(1).padStart(10)}`,
  );
}
process.stdout.write(`${lines.join("\n")}\n`);
process.exit(0);
