// Traffic splits on a node: a canary's share within a tolerance, sticky splits, promote, rollback,
// automatic rollback on an error-rate threshold, and no failed request while any of it happens.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { digestOf } from "../src/registry/index.ts";
import { steadyLoad } from "./helpers/load.ts";
import { startNodeInProcess, type InProcessNode } from "./helpers/node-in-process.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

let data: TempProject;
let started: InProcessNode;
let control: string;
let gateway: string;
let admin: string;
const YAML = `name: canary\nservices:\n  web:\n    entry: web.ts\n    routes: ["GET /web"]\n`;

before(async () => {
  data = tempProject({});
  started = await startNodeInProcess(data.dir);
  ({ gateway, control, token: admin } = started);
  assert.equal((await call("POST", "/v1/apply", { yaml: YAML, bundles: [upload("A")] })).status, 200);
});

after(async () => {
  await started.stop();
  data.remove();
});

function upload(text: string, status = 200): { service: string; code: string; digest: string } {
  // Every version fails a request that carries x-poison, as code fails on a client's bad input.
  const code = `var __stratus_module = (() => ({ default: { fetch(req) { if (req.headers.has("x-poison")) throw new TypeError("bad input"); return new Response(${JSON.stringify(text)}, { status: ${status} }); } } }))();`;
  return { service: "web", code, digest: digestOf(code) };
}

async function call(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${control}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function canary(text: string, canaryOpts: Record<string, unknown>, status = 200): Promise<void> {
  const r = await call("POST", "/v1/services/web/deploy", { yaml: YAML, bundles: [upload(text, status)], canary: canaryOpts });
  assert.equal(r.status, 200, JSON.stringify(r.body));
}

async function tally(n: number, headers: Record<string, string> = {}): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const text = await (await fetch(`${gateway}/web`, { headers })).text();
    counts.set(text, (counts.get(text) ?? 0) + 1);
  }
  return counts;
}

test("a 20% canary gets about a fifth of the requests; promote makes it everyone's version", async () => {
  await canary("B", { percent: 20 });
  const counts = await tally(1000);
  const b = counts.get("B") ?? 0;
  // Binomial(1000, 0.2): mean 200, sd 12.6; four sd either way.
  assert.ok(b >= 150 && b <= 250, `B served ${b} of 1000`);
  assert.equal((counts.get("A") ?? 0) + b, 1000);
  const stack = (await call("GET", "/v1/stack")).body as { canaries: Record<string, { percent: number; version: string }> };
  assert.equal(stack.canaries["web"]!.percent, 20);
  const status = (await call("GET", "/v1/status")).body as {
    services: { service: string; canary: { version: string; percent: number; instances: number } | null }[];
  };
  const web = status.services.find((s) => s.service === "web")!;
  assert.deepEqual([web.canary?.version, web.canary?.percent], [stack.canaries["web"]!.version, 20]);
  assert.ok(web.canary!.instances >= 1);
  assert.equal((await call("POST", "/v1/services/web/promote", {})).status, 200);
  assert.deepEqual([...(await tally(50)).keys()], ["B"]);
  assert.deepEqual(((await call("GET", "/v1/stack")).body as { canaries: object }).canaries, {});
});

test("a sticky canary keeps each client on one version; rollback ends the canary", async () => {
  await canary("C", { percent: 50, stickyHeader: "x-user" });
  let onC = 0;
  for (let u = 0; u < 40; u++) {
    const seen = await tally(5, { "x-user": `user-${u}` });
    assert.equal(seen.size, 1, `user-${u} saw ${[...seen.keys()].join(" and ")}`);
    if (seen.has("C")) onC++;
  }
  assert.ok(onC > 5 && onC < 35, `${onC} of 40 users on the canary`);
  assert.equal((await call("POST", "/v1/services/web/rollback", {})).status, 200);
  assert.deepEqual([...(await tally(30)).keys()], ["B"]);
});

test("a canary whose error rate passes its threshold is rolled back by itself, and the audit log says so", async () => {
  await canary("D", { percent: 50, maxErrorRate: 0.1, window: "5s", minRequests: 10 }, 500);
  await tally(60);
  await waitFor(
    async () => Object.keys(((await call("GET", "/v1/stack")).body as { canaries: object }).canaries).length === 0,
    10_000,
    "the automatic rollback",
  );
  assert.deepEqual([...(await tally(30)).keys()], ["B"]);
  const audit = (await call("GET", "/v1/audit")).body["entries"] as { actor: string; action: string; detail: { errorRate: number } }[];
  const entry = audit.find((e) => e.action === "canary.auto-rollback");
  assert.ok(entry, "audited");
  assert.equal(entry.actor, "node");
  assert.ok(entry.detail.errorRate > 0.1);
});

test("requests that fail on every version alike (a client's bad input) do not roll a canary back", async () => {
  await canary("P", { percent: 50, maxErrorRate: 0.1, window: "60s", minRequests: 10 });
  const poisoned = await tally(60, { "x-poison": "1" });
  assert.equal(poisoned.size, 1); // every one failed, on either version
  type Stack = { canaries: Record<string, { version: string; window: { requests: number; errors: number; stableErrors: number } | null }> };
  // The watch has judged a window holding the poisoned requests of both versions.
  await waitFor(
    async () => {
      const c = ((await call("GET", "/v1/stack")).body as Stack).canaries["web"];
      return !c || (c.window != null && c.window.errors >= 10 && c.window.stableErrors >= 10);
    },
    10_000,
    "a canary check over the poisoned requests",
  );
  const stack = (await call("GET", "/v1/stack")).body as Stack;
  assert.ok(stack.canaries["web"], "the canary still runs");
  const audit = (await call("GET", "/v1/audit")).body["entries"] as { action: string; detail: { version?: string } }[];
  assert.equal(audit.filter((e) => e.action === "canary.auto-rollback" && e.detail.version === stack.canaries["web"]!.version).length, 0);
  assert.equal((await call("POST", "/v1/services/web/rollback", {})).status, 200);
});

test("no failed request while canaries start, promote and roll back under steady load", async () => {
  const load = steadyLoad(`${gateway}/web`);
  await canary("E", { percent: 30 });
  await new Promise((r) => setTimeout(r, 100)); // traffic on the split, not a wait for a result
  assert.equal((await call("POST", "/v1/services/web/promote", {})).status, 200);
  await canary("F", { percent: 50, stickyCookie: "session" });
  await new Promise((r) => setTimeout(r, 100));
  assert.equal((await call("POST", "/v1/services/web/rollback", {})).status, 200);
  const { failures, served } = await load.stop();
  assert.deepEqual(failures, []);
  assert.ok(served > 20, `${served} requests served`);
  assert.deepEqual([...(await tally(20)).keys()], ["E"]);
});
