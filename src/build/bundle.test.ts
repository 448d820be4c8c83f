import assert from "node:assert/strict";
import { after, test } from "node:test";
import { tempProject } from "../../test/helpers/project.ts";
import { bundleService } from "./index.ts";

const p = tempProject({
  "ok.ts": 'import { greet } from "./lib/greet.ts";\nexport default { fetch: () => new Response(greet("x")) };\n',
  "lib/greet.ts": "export const greet = (n: string): string => `hi ${n}`;\n",
  "fs.ts": 'import { readFileSync } from "node:fs";\nexport default { fetch: () => new Response(readFileSync("/etc/passwd")) };\n',
  "cp.ts": 'import "./lib/uses-cp.ts";\nexport default { fetch: () => new Response("x") };\n',
  "lib/uses-cp.ts": 'import { exec } from "child_process";\nexport const e = exec;\n',
  "broken.ts": "export default { fetch( => }\n",
  "missing.ts": 'import x from "./nope.ts";\nexport default x;\n',
});
after(() => p.remove());

test("bundles TypeScript and local imports into one script, with its inputs", async () => {
  const b = await bundleService(`${p.dir}/ok.ts`, p.dir);
  assert.match(b.code, /__stratus_module/);
  assert.match(b.hash, /^[0-9a-f]{64}$/);
  assert.ok(b.inputs.some((i) => i.endsWith("lib/greet.ts")));
});

test("a Node built-in import is a build error naming the import and the file", async () => {
  await assert.rejects(bundleService(`${p.dir}/fs.ts`, p.dir), (e: { code: string; message: string }) => {
    assert.equal(e.code, "STRATUS_E_NODE_BUILTIN");
    assert.match(e.message, /imports the Node built-in "node:fs" \(in fs\.ts\)/);
    return true;
  });
  await assert.rejects(bundleService(`${p.dir}/cp.ts`, p.dir), /imports the Node built-in "child_process" \(in lib\/uses-cp\.ts\)/);
});

test("syntax errors and missing imports name file, line and column", async () => {
  await assert.rejects(
    bundleService(`${p.dir}/broken.ts`, p.dir),
    (e: { code: string; message: string }) => e.code === "STRATUS_E_BUILD" && /broken\.ts:1:\d+:/.test(e.message),
  );
  await assert.rejects(bundleService(`${p.dir}/missing.ts`, p.dir), /missing\.ts:1:\d+: Could not resolve "\.\/nope\.ts"/);
});
