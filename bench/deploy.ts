// Deploy of a changed service to the first response from the new code, 20 times: a Stratus node
// (`stratus start`, 2 worker processes, the deploy through its authenticated control API) beside
// Miniflare's setOptions() redeploy, in the same run. Bundles are made beforehand for both (no
// build time in either figure). Prints one JSON object on stdout.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NodeApi, NodeServer } from "../src/node/index.ts";
import { digestOf } from "../src/registry/index.ts";
import { silentLogger } from "../src/telemetry/index.ts";

const ROUNDS = Number(process.env["BENCH_DEPLOYS"] ?? 20);

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const code = (i: number): string => `var __stratus_module = (() => ({ default: { fetch() { return new Response("version ${i}"); } } }))();`;

async function untilServes(url: string, text: string): Promise<void> {
  for (;;) {
    const res = await fetch(url);
    if ((await res.text()) === text) return;
  }
}

async function stratus(): Promise<{ p50: number; p99: number; failed: number }> {
  const dir = mkdtempSync(join(tmpdir(), "stratus-bench-deploy-"));
  const node = new NodeServer({
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    controlPort: 0,
    workers: 2,
    logger: silentLogger(),
    print: () => undefined,
    logLevel: "silent",
  });
  const gw = await node.start();
  const api = new NodeApi(node);
  const control = `http://127.0.0.1:${await api.listen(0, "127.0.0.1")}`;
  const token = readFileSync(join(dir, "admin-token"), "utf8").trim();
  const yaml = `name: bench\nservices:\n  web:\n    entry: web.ts\n    routes: ["GET /"]\n`;
  const send = async (path: string, i: number): Promise<void> => {
    const c = code(i);
    const res = await fetch(`${control}${path}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ yaml, bundles: [{ service: "web", code: c, digest: digestOf(c) }] }),
    });
    if (res.status !== 200) throw new Error(`deploy answered ${res.status}: ${await res.text()}`);
  };
  await send("/v1/apply", 0);
  await untilServes(`http://127.0.0.1:${gw}/`, "version 0");
  const times: number[] = [];
  for (let i = 1; i <= ROUNDS; i++) {
    const t = performance.now();
    await send("/v1/services/web/deploy", i);
    await untilServes(`http://127.0.0.1:${gw}/`, `version ${i}`);
    times.push(performance.now() - t);
  }
  await api.close();
  await node.stop();
  rmSync(dir, { recursive: true, force: true });
  times.sort((a, b) => a - b);
  return { p50: pct(times, 50), p99: pct(times, 99), failed: 0 };
}

async function miniflare(): Promise<{ p50: number; p99: number } | { error: string }> {
  try {
    const { Miniflare } = await import("miniflare");
    const script = (i: number): string => `export default { fetch() { return new Response("version ${i}"); } }`;
    const mf = new Miniflare({ modules: true, script: script(0) });
    await (await mf.dispatchFetch("http://localhost/")).text();
    const times: number[] = [];
    for (let i = 1; i <= ROUNDS; i++) {
      const t = performance.now();
      await mf.setOptions({ modules: true, script: script(i) });
      const text = await (await mf.dispatchFetch("http://localhost/")).text();
      if (text !== `version ${i}`) throw new Error(`miniflare served "${text}"`);
      times.push(performance.now() - t);
    }
    await mf.dispose();
    times.sort((a, b) => a - b);
    return { p50: pct(times, 50), p99: pct(times, 99) };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

const result = { stratus: await stratus(), miniflare: await miniflare(), rounds: ROUNDS };
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
