// A version swap refuses no work: requests and event deliveries queued in the pool being drained
// go to the version swapped in, and so do those waiting in a canary pool that is replaced or ended.
import assert from "node:assert/strict";
import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, test } from "node:test";
import { loadStack, type ResolvedService } from "../config/index.ts";
import { SqliteStateProvider } from "../state/index.ts";
import { silentLogger } from "../telemetry/index.ts";
import { tempProject, type TempProject } from "../../test/helpers/project.ts";
import { waitFor } from "../../test/helpers/wait.ts";
import { Runtime } from "./runtime.ts";

// The test holds a request inside the isolate (it awaits this server) for as long as it needs
// the only instance busy: no timing involved.
let upstream: Server;
let port = 0;
const held: ServerResponse[] = [];
let project: TempProject;
let service: ResolvedService;
let runtime: Runtime;
let state: SqliteStateProvider;

before(async () => {
  upstream = createServer((_req, res) => void held.push(res));
  await new Promise<void>((r) => upstream.listen(0, "127.0.0.1", r));
  port = (upstream.address() as AddressInfo).port;
  project = tempProject({
    "stratus.yaml": `name: t\ntopics:\n  t.one: {}\nservices:\n  web:\n    entry: web.js\n    routes: ["GET /*"]\n    bindings:\n      UP: { egress: ["127.0.0.1:${port}"] }\n    scale: { max: 1, concurrency: 1, queue: 10 }\n    subscribe:\n      t.one: {}\n`,
    "web.js": "export default {}",
  });
  service = loadStack(project.dir).services[0]!;
  state = new SqliteStateProvider({ dir: null });
  runtime = new Runtime({ state, logger: silentLogger(), spares: 0 });
});

after(async () => {
  for (const r of held.splice(0)) r.end();
  await runtime.close();
  await state.close();
  await new Promise<void>((r) => upstream.close(() => r()));
  project.remove();
});

/** A version whose /hold waits on the test's server, and whose event() names it. */
function version(name: string): { code: string; hash: string } {
  const code = `var __stratus_module = (() => ({ default: {
    async fetch(request, env) {
      if (new URL(request.url).pathname === "/hold") await (await env.UP.fetch("http://127.0.0.1:${port}/")).text();
      return new Response("${name}");
    },
    async event(event) {
      if ("${name}" === "v1") throw new Error("handled by the drained version");
    },
  } }))();`;
  return { code, hash: `${name}`.padEnd(64, "0") };
}

const get = (path: string): Promise<string> =>
  runtime.invoke("web", { method: "GET", url: `http://x${path}`, headers: [], body: null, requestId: path }).then((inv) => String(inv.result.body));

const event = JSON.stringify({ specversion: "1.0", id: "e1", source: "/test", type: "t.one", data: {} });

test("requests and event deliveries queued in a drained pool are served by the version swapped in", async () => {
  await runtime.deploy(service, version("v1"));
  const holding = get("/hold");
  await waitFor(() => held.length === 1, 10_000, "the only instance to be busy");
  const queued = get("/queued");
  const delivery = runtime.runEvents("web", [event]);
  assert.equal(runtime.status()[0]!.queued, 2, "a request and a delivery wait in the pool");
  await runtime.deploy(service, version("v2"));
  assert.equal(await queued, "v2");
  assert.deepEqual(
    (await delivery).map((o) => o.ok),
    [true],
  );
  held.shift()!.end();
  assert.equal(await holding, "v1", "the request in flight finished on the old version");
});

test("requests queued in a canary pool go on when the canary is replaced or ended", async () => {
  await runtime.setCanary(service, version("c1"), 100, null);
  const holding = get("/hold");
  await waitFor(() => held.length === 1, 10_000, "the canary's only instance to be busy");
  const first = get("/a"); // queued in the canary's pool: a pool takes its slot or place at once
  await runtime.setCanary(service, version("c2"), 100, null);
  assert.equal(await first, "c2", "followed to the canary that replaced it");
  const hold2 = get("/hold");
  await waitFor(() => held.length === 2, 10_000, "the new canary's only instance to be busy");
  const second = get("/b");
  runtime.clearCanary("web");
  assert.equal(await second, "v2", "followed to the live version once the canary ended");
  for (const r of held.splice(0)) r.end();
  assert.equal(await holding, "c1");
  assert.equal(await hold2, "c2");
});
