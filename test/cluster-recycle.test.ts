// Worker recycling (the memory guard) racing the supervisor: replacements started while the node
// stops, or while another recycle is under way, end quietly instead of as an unhandled rejection
// that takes the supervisor down.
import assert from "node:assert/strict";
import { test } from "node:test";
import { chooseBackends } from "../src/backends/index.ts";
import { buildStack, builtBundles } from "../src/build/index.ts";
import { loadStack } from "../src/config/index.ts";
import { ClusterWorkers } from "../src/dev/index.ts";
import { silentLogger } from "../src/telemetry/index.ts";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

test("stopping while workers are being recycled rejects nothing unhandled", async (t) => {
  const project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  web:\n    entry: web.ts\n    routes: ["GET /*"]\n`,
    "web.ts": `export default { fetch() { return new Response("ok"); } };`,
  });
  const unhandled: unknown[] = [];
  const onUnhandled = (err: unknown): void => void unhandled.push(err);
  process.on("unhandledRejection", onUnhandled);
  // A guard every worker is over at once: each asks to be replaced a second after it starts.
  const workers = new ClusterWorkers({
    count: 2,
    backends: chooseBackends({ dataDir: project.dir }),
    json: true,
    logLevel: "silent",
    maxWorkerRssMb: 1,
    logger: silentLogger(),
  });
  t.after(async () => {
    await workers.close();
    process.off("unhandledRejection", onUnhandled);
    project.remove();
  });
  const stack = loadStack(project.dir);
  await workers.load(stack, builtBundles(await buildStack(stack)));
  await workers.listen(0, "127.0.0.1");
  const first = workers.pids();
  // A new pid appears when its process is forked: its start (online, load, listen) takes a while,
  // and the stop below lands in it.
  await waitFor(() => workers.pids().some((p) => !first.includes(p)), 30_000, "a replacement worker to be forked");
  await workers.close();
  // An unhandled rejection is reported once the microtasks of the exit that caused it ran.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(unhandled.map(String), []);
});
