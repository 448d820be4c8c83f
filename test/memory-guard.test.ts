// The worker memory guard: a worker process that grows past maxWorkerRssMb is replaced
// gracefully (the replacement first), and the stack keeps answering throughout.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let project: TempProject;
let dev: DevServer;
let base = "";

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: guard\nservices:\n  hog:\n    entry: hog.ts\n    routes: ["GET /*"]\n    limits: { memory: 1024, cpu: 30s, timeout: 60s }\n`,
    // Keeps ~400 MB alive inside its isolate: within its own limit, but past the worker guard.
    "hog.ts": `
const hoard: Float64Array[] = [];
export default {
  fetch(request: Request): Response {
    if (new URL(request.url).pathname === "/grow") for (let i = 0; i < 50; i++) hoard.push(new Float64Array(1e6).fill(i));
    return new Response("ok");
  },
};`,
  });
  dev = testDevServer(project.dir, { maxWorkerRssMb: 350 });
  base = `http://127.0.0.1:${await dev.start()}`;
});
after(async () => {
  await dev?.stop();
  project.remove();
});

test("a worker past the memory guard is replaced while requests keep being answered", async () => {
  const before2 = dev.workerPids();
  assert.equal(before2.length, 2);
  // Grow whichever worker takes these connections.
  for (let i = 0; i < 2; i++) assert.equal(await (await fetch(`${base}/grow`, { headers: { connection: "close" } })).text(), "ok");
  await waitFor(() => dev.workerPids().some((p) => !before2.includes(p)), 20_000, "a replacement worker");
  await waitFor(() => dev.workerPids().length === 2, 20_000, "the old worker to retire");
  for (let i = 0; i < 6; i++) assert.equal(await (await fetch(`${base}/`, { headers: { connection: "close" } })).text(), "ok");
});
