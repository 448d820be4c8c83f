// scale.max holds for the whole node: worker processes share one budget kept by the supervisor.
import assert from "node:assert/strict";
import { request } from "node:http";
import { after, before, test } from "node:test";
import type { DevServer } from "../src/dev/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let dev: DevServer;
let port = 0;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: budget\nservices:\n  one:\n    entry: one.ts\n    routes: ["GET /*"]\n    scale: { max: 1, concurrency: 1 }\n    limits: { timeout: 60s }\n`,
    "one.ts": `export default { async fetch(): Promise<Response> { await new Promise((r) => setTimeout(r, 60)); return new Response("ok"); } };`,
  });
  dev = testDevServer(project.dir, { controlPort: 0 });
  port = await dev.start();
});
after(async () => {
  await dev?.stop();
  project.remove();
});

/** One request on a fresh connection, so the kernel spreads them over both workers. */
function get(): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", agent: false, headers: { connection: "close" } }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

test("with scale.max 1 and two workers, the node never runs two instances, and every request is served", async () => {
  let most = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const status = (await (await fetch(`http://127.0.0.1:${dev.controlPort}/v1/status`)).json()) as { services: { instances: number }[] };
      most = Math.max(most, status.services[0]?.instances ?? 0);
      await new Promise((r) => setTimeout(r, 5));
    }
  })();
  const statuses: number[] = [];
  for (let round = 0; round < 3; round++) statuses.push(...(await Promise.all(Array.from({ length: 6 }, () => get()))));
  sampling = false;
  await sampler;
  assert.deepEqual([...new Set(statuses)], [200]);
  assert.equal(most, 1);
});
