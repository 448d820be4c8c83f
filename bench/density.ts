// Density: deploy N services into one runtime, make WARM of them warm (one request each), and
// report the process's memory. Run by bench/run.ts in a fresh process; prints one JSON line.
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseStack } from "../src/config/index.ts";
import { Runtime } from "../src/runtime/index.ts";
import { SqliteStateProvider } from "../src/state/index.ts";
import { silentLogger } from "../src/telemetry/index.ts";

const N = Number(process.env["DENSITY_SERVICES"] ?? 1000);
const WARM = Number(process.env["DENSITY_WARM"] ?? 100);
const root = new URL("../.test-tmp/", import.meta.url).pathname;
mkdirSync(root, { recursive: true });
const dir = mkdtempSync(join(root, "density-"));
try {
  writeFileSync(join(dir, "s.ts"), `export default { fetch: (r: Request) => new Response("hello from " + new URL(r.url).pathname) };`);
  let yaml = "name: dense\nservices:\n";
  for (let i = 0; i < N; i++) yaml += `  s${i}:\n    entry: s.ts\n    routes: ["GET /s${i}"]\n`;
  const stack = parseStack(yaml, join(dir, "stratus.yaml"));
  // Bundled in a child process: a worker process never loads esbuild, so neither does this one.
  const BUILD = new URL("../src/build/index.ts", import.meta.url).href;
  const bundle = JSON.parse(
    execFileSync(
      process.execPath,
      [
        "--no-node-snapshot",
        "--input-type=module",
        "-e",
        `const { bundleService } = await import(${JSON.stringify(BUILD)}); const b = await bundleService(${JSON.stringify(join(dir, "s.ts"))}, ${JSON.stringify(dir)}); process.stdout.write(JSON.stringify({ code: b.code, hash: b.hash }));`,
      ],
      { encoding: "utf8" },
    ),
  ) as { code: string; hash: string };
  const runtime = new Runtime({ state: new SqliteStateProvider({ dir: null }), logger: silentLogger() });
  const rssMb = (): number => process.memoryUsage().rss / 1048576;
  const baseline = rssMb();
  const t0 = performance.now();
  for (const s of stack.services) await runtime.deploy(s, bundle);
  const deployMs = performance.now() - t0;
  const deployedRss = rssMb();
  for (let i = 0; i < WARM; i++) {
    const inv = await runtime.invoke(`s${i}`, { method: "GET", url: `http://x/s${i}`, headers: [], body: null, requestId: "r" });
    if (inv.result.status !== 200) throw new Error(`s${i} answered ${inv.result.status}`);
  }
  const instances = runtime.status().reduce((n, s) => n + s.instances, 0);
  process.stdout.write(
    `${JSON.stringify({ services: N, warm: WARM, instances, baselineMb: baseline, deployedMb: deployedRss, warmMb: rssMb(), deployMsPerService: deployMs / N })}\n`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
process.exit(0);
