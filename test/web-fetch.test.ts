// Fetch API objects inside the isolate, seen from outside: real HTTP through the gateway on port 0.
// The full conformance cases run in test/conformance; these pin the findings a client can see.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { buildStack, builtBundles } from "../src/build/index.ts";
import { loadStack } from "../src/config/index.ts";
import { StackHost } from "../src/stack/index.ts";
import { createLogger } from "../src/telemetry/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let host: StackHost;
let base = "";

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: webfetch
services:
  web:
    entry: web.ts
    routes: ["GET /cookies", "POST /copy", "GET /signal"]
`,
    "web.ts": `
export default {
  async fetch(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    if (path === "/cookies") {
      const h = new Headers();
      h.append("set-cookie", "a=1; Path=/");
      h.append("set-cookie", "b=2; Path=/");
      h.set("x-kept", "yes");
      // Middleware (Hono among it) rebuilds responses from an existing one's headers.
      const first = new Response("ok", { headers: new Headers(h) });
      return new Response(first.body, first);
    }
    if (path === "/copy") {
      const copy = new Request(request);
      return Response.json({ used: request.bodyUsed, text: await copy.text(), type: copy.headers.get("content-type") });
    }
    const s = request.signal;
    return Response.json({
      isSignal: s instanceof AbortSignal,
      aborted: s.aborted,
      same: s === request.signal,
      cloneIsSignal: request.clone().signal instanceof AbortSignal,
    });
  },
};`,
  });
  const stack = loadStack(project.dir);
  host = new StackHost({ logger: createLogger({ json: true, level: "error" }), spares: 0 });
  await host.load(stack, builtBundles(await buildStack(stack)));
  base = `http://127.0.0.1:${(await host.gateway.listen(0, "127.0.0.1")).port}`;
});
after(async () => {
  await host.close();
  project.remove();
});

describe("Fetch objects in a function, over HTTP", () => {
  test("copying Headers and Responses keeps each Set-Cookie exactly once", async () => {
    const res = await fetch(`${base}/cookies`);
    assert.equal(res.status, 200);
    assert.deepEqual(res.headers.getSetCookie(), ["a=1; Path=/", "b=2; Path=/"]);
    assert.equal(res.headers.get("x-kept"), "yes");
  });

  test("request.signal is a live AbortSignal, never null, also on clones", async () => {
    const res = await fetch(`${base}/signal`);
    assert.deepEqual(await res.json(), { isSignal: true, aborted: false, same: true, cloneIsSignal: true });
  });

  test("new Request(request) takes the gateway's request body over and marks the original used", async () => {
    const res = await fetch(`${base}/copy`, { method: "POST", body: "payload", headers: { "content-type": "text/x-test" } });
    assert.deepEqual(await res.json(), { used: true, text: "payload", type: "text/x-test" });
  });
});
