// KV arguments from inside a real isolate: expirations that would silently mean "never" and keys
// that SQLite would fold together (lone surrogates) get the function a clear error.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startStack, type TestStack } from "../src/testing/index.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

let project: TempProject;
let stack: TestStack;

before(async () => {
  project = tempProject({
    "stratus.yaml": `name: kvargs\nservices:\n  kvx:\n    entry: kvx.ts\n    routes: ["POST /kvx"]\n    bindings: { KV: { kv: {} } }\n`,
    // The request body names one put: [key, options]; the reply is "ok" or the error's code and message.
    "kvx.ts": `
export default {
  async fetch(req: Request, env: { KV: { put(k: string, v: string, o?: object): Promise<void> } }): Promise<Response> {
    const [key, opts] = JSON.parse(await req.text(), (k, v) => (v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "1e308" ? 1e308 : v));
    try {
      await env.KV.put(key, "v", opts);
      return new Response("ok");
    } catch (e) {
      return new Response(String((e as { code?: string }).code) + " " + (e as Error).message);
    }
  },
};`,
  });
  stack = await startStack(project.dir);
});
after(async () => {
  await stack.close();
  project.remove();
});

async function put(key: string, opts: Record<string, unknown>): Promise<string> {
  return (await stack.fetch("/kvx", { method: "POST", body: JSON.stringify([key, opts]) })).text();
}

test("NaN, Infinity and 1e308 expirations are refused with STRATUS_E_KV_ARGUMENT, not stored as never", async () => {
  for (const [v, shown] of [
    ["NaN", "NaN"],
    ["Infinity", "Infinity"],
    ["1e308", "1e\\+308"],
  ]) {
    assert.match(await put("a", { expirationTtl: v }), new RegExp(`^STRATUS_E_KV_ARGUMENT KV put: expirationTtl .* got ${shown};`));
    assert.match(await put("b", { expiration: v }), new RegExp(`^STRATUS_E_KV_ARGUMENT KV put: expiration .* got ${shown};`));
  }
  assert.equal(await put("c", { expirationTtl: 60 }), "ok");
});

test("a key with a lone surrogate is refused: it would be the same key as U+FFFD", async () => {
  assert.match(await put("\ud800", {}), /^STRATUS_E_KV_ARGUMENT KV: the key .* is not well-formed UTF-16/);
  assert.equal(await put("\ufffd", {}), "ok");
});
