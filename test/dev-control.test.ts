// `stratus dev`'s control API can publish events and replay subscriptions, and has no tokens: it
// listens on loopback whatever --host says, and beyond loopback only with a token.
import assert from "node:assert/strict";
import { request } from "node:http";
import { test } from "node:test";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject } from "./helpers/project.ts";

const files = {
  "stratus.yaml": `name: dc\nservices:\n  hi:\n    entry: hi.ts\n    routes: ["GET /hi"]\n`,
  "hi.ts": `export default { fetch() { return new Response("hi"); } };`,
};

test("with --host set to another address, the gateway follows it and the control API stays on 127.0.0.1", async () => {
  const project = tempProject(files);
  const printed: string[] = [];
  // 127.0.0.2 is another address of this machine (all of 127/8 is loopback on Linux).
  const dev = testDevServer(project.dir, { host: "127.0.0.2", workers: 1, controlPort: 0, watch: false, print: (l) => printed.push(l) });
  try {
    await dev.start();
    assert.equal(await (await fetch(`http://127.0.0.2:${dev.port}/hi`)).text(), "hi");
    assert.equal((await fetch(`http://127.0.0.1:${dev.controlPort}/v1/status`)).status, 200);
    await assert.rejects(fetch(`http://127.0.0.2:${dev.controlPort}/v1/status`), "the control API followed --host");
    assert.match(printed.join("\n"), /control API on http:\/\/127\.0\.0\.1:\d+ .*loopback only/);
  } finally {
    await dev.stop();
    project.remove();
  }
});

test("a control API beyond loopback is refused without a token; with one, every request needs it", async () => {
  const project = tempProject(files);
  const open = testDevServer(project.dir, { workers: 1, controlPort: 0, controlHost: "0.0.0.0", watch: false });
  try {
    await assert.rejects(open.start(), (e: { code?: string; message?: string }) => {
      assert.equal(e.code, "STRATUS_E_CLI_USAGE");
      assert.match(e.message ?? "", /--control-host 0\.0\.0\.0 .* without a token; pass --control-token/);
      return true;
    });
    assert.equal(open.controlPort, null);
  } finally {
    await open.stop();
  }
  const dev = testDevServer(project.dir, { workers: 1, controlPort: 0, controlToken: "s3cret-dev-token", watch: false });
  try {
    await dev.start();
    const url = `http://127.0.0.1:${dev.controlPort}/v1/events/topics/t`;
    const anon = await fetch(url, { method: "POST", body: "{}" });
    assert.equal(anon.status, 401);
    assert.equal(((await anon.json()) as { error: { code: string } }).error.code, "STRATUS_E_UNAUTHORIZED");
    const wrong = await fetch(`http://127.0.0.1:${dev.controlPort}/v1/status`, { headers: { authorization: "Bearer nope" } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`http://127.0.0.1:${dev.controlPort}/v1/status`, { headers: { authorization: "Bearer s3cret-dev-token" } });
    assert.equal(ok.status, 200);
  } finally {
    await dev.stop();
    project.remove();
  }
});

/** One raw request (node:http sends the Host and Origin given, as a browser or a rebinding page would). */
function raw(port: number, method: string, path: string, headers: Record<string, string>, body?: string): Promise<{ status: number; code?: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const text = Buffer.concat(chunks).toString("utf8");
        let code: string | undefined;
        try {
          code = (JSON.parse(text) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        resolve({ status: res.statusCode ?? 0, code });
      });
    });
    req.on("error", reject);
    req.end(body);
  });
}

test("a web page cannot drive the dev control API: cross-site POSTs, foreign Origins and rebinding Hosts are refused", async () => {
  const project = tempProject(files);
  const dev = testDevServer(project.dir, { workers: 1, controlPort: 0, watch: false });
  try {
    await dev.start();
    const port = dev.controlPort!;
    const replay = "/v1/events/subscriptions/hi:t/replay";
    // What a foreign page's form or fetch sends without a preflight: text/plain, its own Origin.
    const simple = await raw(port, "POST", replay, { host: `127.0.0.1:${port}`, "content-type": "text/plain;charset=UTF-8" }, '{"from":0}');
    assert.deepEqual(simple, { status: 400, code: "STRATUS_E_BAD_REQUEST" });
    const foreign = await raw(
      port,
      "POST",
      replay,
      { host: `127.0.0.1:${port}`, origin: "http://evil.example", "content-type": "application/json" },
      '{"from":0}',
    );
    assert.deepEqual(foreign, { status: 403, code: "STRATUS_E_FORBIDDEN" });
    // DNS rebinding: the page's own name resolved to 127.0.0.1.
    assert.deepEqual(await raw(port, "GET", "/v1/status", { host: `attacker.example:${port}` }), { status: 403, code: "STRATUS_E_FORBIDDEN" });
    // The CLI's own requests still pass: a JSON POST gets past the checks to the route (no such subscription).
    const cli = await raw(port, "POST", replay, { host: `127.0.0.1:${port}`, "content-type": "application/json" }, '{"from":0}');
    assert.notEqual(cli.code, "STRATUS_E_BAD_REQUEST");
    assert.notEqual(cli.code, "STRATUS_E_FORBIDDEN");
    assert.equal((await raw(port, "GET", "/v1/status", { host: `localhost:${port}`, origin: `http://localhost:${port}` })).status, 200);
    // A target that is not a path is the client's error, never an internal one (finding A7).
    const odd = await raw(port, "GET", "//[", { host: `127.0.0.1:${port}` });
    assert.ok(odd.status >= 400 && odd.status < 500 && odd.code !== "STRATUS_E_INTERNAL", JSON.stringify(odd));
  } finally {
    await dev.stop();
    project.remove();
  }
});
