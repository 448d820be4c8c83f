// `stratus dev` as a user runs it: worker processes on a real port, hot reload, crash recovery.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

const run = promisify(execFile);
let project: TempProject;
let dev: DevServer;
let base = "";
const printed: string[] = [];

const svc = (version: string): string => `
export default {
  async fetch(request: Request, env: { COUNT: { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void> } }): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/slow") { await new Promise((r) => setTimeout(r, 400)); return new Response("slow ${version}"); }
    if (url.pathname === "/count") { const n = Number(await env.COUNT.get("n") ?? 0) + 1; await env.COUNT.put("n", String(n)); return new Response(String(n)); }
    return new Response("${version}");
  },
};`;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: devtest\nservices:\n  app:\n    entry: services/app/index.ts\n    routes: ["GET /*"]\n    bindings: { COUNT: { kv: {} } }\n  other:\n    entry: services/other/index.ts\n    routes: ["GET /other"]\n`,
    "services/app/index.ts": svc("v1"),
    "services/other/index.ts": `export default { fetch: () => new Response("other") };`,
  });
  dev = testDevServer(project.dir, { controlPort: 0, print: (l) => printed.push(l) });
  const port = await dev.start();
  base = `http://127.0.0.1:${port}`;
});
after(async () => {
  await dev?.stop();
  project.remove();
});

/** Fetches on a fresh connection, so requests spread over the worker processes. */
const get = async (path: string): Promise<string> =>
  (await fetch(`${base}${path}`, { headers: { connection: "close" }, signal: AbortSignal.timeout(10_000) })).text();

test("prints the route table and serves on two worker processes", async () => {
  assert.match(printed.join("\n"), /GET +\/\* +-> app/);
  assert.match(printed.join("\n"), /2 workers/);
  assert.equal(dev.workerPids().length, 2);
  assert.equal(await get("/"), "v1");
  assert.equal(await get("/other"), "other");
});

test("state is shared by the workers and kept on disk", async () => {
  const counts = [];
  for (let i = 0; i < 6; i++) counts.push(Number(await get("/count")));
  assert.deepEqual(counts, [1, 2, 3, 4, 5, 6]);
});

test("the control API sums per-service figures over both workers; stratus status prints them", async () => {
  const control = `http://127.0.0.1:${dev.controlPort}`;
  const before2 = (await (await fetch(`${control}/v1/status`)).json()) as { services: { service: string; invocations: number; instances: number }[] };
  const start = before2.services.find((x) => x.service === "other")!.invocations;
  for (let i = 0; i < 6; i++) await get("/other");
  const after2 = (await (await fetch(`${control}/v1/status`)).json()) as {
    stack: string;
    services: { service: string; invocations: number; instances: number }[];
  };
  assert.equal(after2.stack, "devtest");
  const other = after2.services.find((x) => x.service === "other")!;
  assert.equal(other.invocations - start, 6);
  // Instances start on demand in whichever worker took the connection: one or two in all.
  assert.ok(other.instances >= 1 && other.instances <= 2, `instances: ${other.instances}`);
  const text = await (await fetch(`${control}/metrics`)).text();
  assert.match(text, /stratus_invocations_total\{service="other"\} \d+/);
  assert.match(text, /# TYPE stratus_invocation_duration_seconds histogram/);
  const { NODE_TEST_CONTEXT: _ctx, ...env } = process.env;
  const cli = await run(process.execPath, [new URL("../bin/stratus.js", import.meta.url).pathname, "status", "--json"], {
    env: { ...env, NODE_OPTIONS: "", STRATUS_URL: control },
  });
  const viaCli = JSON.parse(cli.stdout) as { services: { service: string }[] };
  assert.deepEqual(
    viaCli.services.map((x) => x.service),
    ["app", "other"],
  );
});

test("saving a file swaps only that service; in-flight requests finish on the old code", async () => {
  const slow = fetch(`${base}/slow`).then((r) => r.text());
  await new Promise((r) => setImmediate(r));
  const reloaded = new Promise<string[]>((resolve) => {
    dev.onReload = (outcomes) => resolve(outcomes.filter((o) => o.status === "deployed").map((o) => o.service));
  });
  project.write("services/app/index.ts", svc("v2"));
  assert.deepEqual(await reloaded, ["app"]);
  assert.equal(await get("/"), "v2");
  assert.equal(await slow, "slow v1");
});

test("a build error keeps the previous version serving and prints the error", async () => {
  const before2 = printed.length;
  project.write("services/app/index.ts", "export default { fetch( => oops");
  await waitFor(() => printed.slice(before2).some((l) => l.includes("build failed")), 10_000, "the build error");
  const msg = printed.slice(before2).join("\n");
  assert.match(msg, /build failed for service "app" \(STRATUS_E_BUILD\); still serving the previous version/);
  assert.match(msg, /services\/app\/index\.ts:1:\d+/);
  assert.equal(await get("/"), "v2");
  const reloaded = new Promise<void>((resolve) => (dev.onReload = () => resolve()));
  project.write("services/app/index.ts", svc("v3"));
  await reloaded;
  assert.equal(await get("/"), "v3");
});

test("editing stratus.yaml adds routes without a restart; an invalid edit keeps the old configuration", async () => {
  const yaml = `name: devtest\nservices:\n  app:\n    entry: services/app/index.ts\n    routes: ["GET /*"]\n    bindings: { COUNT: { kv: {} } }\n  other:\n    entry: services/other/index.ts\n    routes: ["GET /other", "GET /other2"]\n`;
  const reloaded = new Promise<void>((resolve) => (dev.onReload = () => resolve()));
  project.write("stratus.yaml", yaml);
  await reloaded;
  assert.equal(await get("/other2"), "other");
  const before2 = printed.length;
  project.write("stratus.yaml", yaml.replace('"GET /other2"', '"GOT /x"'));
  await waitFor(() => printed.slice(before2).some((l) => l.includes("still serving the previous configuration")), 10_000, "the config error");
  assert.equal(await get("/other2"), "other");
  const back = new Promise<void>((resolve) => (dev.onReload = () => resolve()));
  project.write("stratus.yaml", yaml.replace(', "GET /other2"', ""));
  await back;
  assert.equal(await get("/other2"), "v3");
});

test("a worker process that dies is replaced while the other keeps serving", async () => {
  const [victim] = dev.workerPids();
  assert.ok(victim);
  process.kill(victim, "SIGKILL");
  // Every request in the meantime is answered by the surviving worker.
  for (let i = 0; i < 5; i++) assert.equal(await get("/"), "v3");
  await waitFor(() => dev.workerPids().length === 2 && !dev.workerPids().includes(victim), 15_000, "a replacement worker");
  for (let i = 0; i < 4; i++) assert.equal(await get("/"), "v3");
});
