// Zero-downtime deploys on a 2-worker `stratus start` node: 20 clients keep requesting while the
// control API applies a new version and rolls it back, 15 times over. No request may fail: a
// request that reaches a pool being drained goes to the pool that replaced it.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { digestOf } from "../src/registry/index.ts";
import { steadyLoad } from "./helpers/load.ts";
import { startNodeInProcess, type InProcessNode } from "./helpers/node-in-process.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let data: TempProject;
let started: InProcessNode;
let control: string;
let gateway: string;
let admin: string;

before(async () => {
  data = tempProject({});
  started = await startNodeInProcess(data.dir, { workers: 2 });
  ({ gateway, control, token: admin } = started);
});

after(async () => {
  await started.stop();
  data.remove();
});

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${control}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The stack as the CLI uploads it: one service whose answer names its version. */
function stack(text: string): { yaml: string; bundles: { service: string; code: string; digest: string }[] } {
  // A little async work per request keeps several requests in flight per instance and queued in
  // the pool, where a drain finds them.
  const code = `var __stratus_module = (() => ({ default: { async fetch() { await new Promise((r) => setTimeout(r, 2)); return new Response(${JSON.stringify(text)}); } } }))();`;
  return {
    yaml: `name: live\nservices:\n  web:\n    entry: web.ts\n    routes: ["GET /web"]\n    scale: { max: 2, queue: 100 }\n`,
    bundles: [{ service: "web", code, digest: digestOf(code) }],
  };
}

test("20 clients through 15 apply/rollback cycles on a 2-worker node: every request answers 200", async () => {
  const first = await call("POST", "/v1/apply", stack("v0"));
  assert.equal(first.status, 200, JSON.stringify(first.body));
  const load = steadyLoad(`${gateway}/web`, 20);
  for (let i = 1; i <= 15; i++) {
    const applied = await call("POST", "/v1/apply", stack(`v${i}`));
    assert.equal(applied.status, 200, JSON.stringify(applied.body));
    const back = await call("POST", "/v1/services/web/rollback", {});
    assert.equal(back.status, 200, JSON.stringify(back.body));
  }
  const { failures, served } = await load.stop();
  assert.deepEqual(failures.slice(0, 5), [], `${failures.length} of ${failures.length + served} requests failed`);
  // Enough traffic to meet every swap (the count depends on the machine's load, not the property).
  assert.ok(served > 30, `${served} requests served during the deploys`);
});
