// A load (the step under `stratus apply` and every `stratus dev` reload) is confirmed by every
// worker process: one killed mid-load is replaced, and the load is reported done only once the
// replacement has loaded the new code and serves it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { chooseBackends } from "../src/backends/index.ts";
import { buildStack, builtBundles } from "../src/build/index.ts";
import { loadStack, type ResolvedStack } from "../src/config/index.ts";
import { ClusterWorkers } from "../src/dev/index.ts";
import { silentLogger } from "../src/telemetry/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let workers: ClusterWorkers;
let base = "";

async function built(): Promise<{ stack: ResolvedStack; bundles: { service: string; code: string; hash: string }[] }> {
  const stack = loadStack(project.dir);
  return { stack, bundles: builtBundles(await buildStack(stack)) };
}

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  web:\n    entry: web.ts\n    routes: ["GET /*"]\n`,
    "web.ts": `export default { fetch() { return new Response("v1"); } };`,
  });
  workers = new ClusterWorkers({
    count: 2,
    backends: chooseBackends({ dataDir: project.dir }),
    json: true,
    logLevel: "silent",
    logger: silentLogger(),
  });
  const { stack, bundles } = await built();
  const first = await workers.load(stack, bundles);
  assert.deepEqual(
    first.map((o) => o.status),
    ["deployed"],
  );
  base = `http://127.0.0.1:${await workers.listen(0, "127.0.0.1")}`;
});

after(async () => {
  await workers.close();
  project.remove();
});

test("every worker killed while a new version loads: the load waits for the replacements, which serve the new code", async () => {
  assert.equal(await (await fetch(`${base}/`)).text(), "v1");
  project.write("web.ts", `export default { fetch() { return new Response("v2"); } };`);
  const { stack, bundles } = await built();
  const victims = workers.pids();
  assert.equal(victims.length, 2);
  // The load message is on its way to both workers when they die.
  const loading = workers.load(stack, bundles);
  for (const pid of victims) process.kill(pid, "SIGKILL");
  const outcomes = await loading;
  assert.deepEqual(
    outcomes.map((o) => o.status),
    ["deployed"],
    JSON.stringify(outcomes),
  );
  const now = workers.pids();
  assert.equal(now.length, 2);
  assert.ok(!now.some((p) => victims.includes(p)), "both workers were replaced");
  // Reported done: the replacements already serve the new code, on the same port.
  for (let i = 0; i < 6; i++) assert.equal(await (await fetch(`${base}/`, { headers: { connection: "close" } })).text(), "v2");
});

test("a version that fails to load in the workers is reported failed with the reason; the previous one keeps serving", async () => {
  project.write("web.ts", `if (globalThis.crypto) throw new Error("boom at top level"); export default { fetch() { return new Response("v3"); } };`);
  const { stack, bundles } = await built();
  const outcomes = await workers.load(stack, bundles);
  assert.equal(outcomes.length, 1);
  const [web] = outcomes;
  assert.equal(web!.status, "failed");
  assert.match(web!.status === "failed" ? web!.error.message : "", /boom at top level/);
  assert.equal(await (await fetch(`${base}/`)).text(), "v2", "the previous version keeps serving");
});
