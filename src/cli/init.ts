/** `stratus init`: scaffolds a project with one service, a stack file and a test. */
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { StratusError } from "../errors/index.ts";

const STRATUS_ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Files of a new project, keyed by relative path. */
export function projectFiles(name: string): Record<string, string> {
  return {
    "stratus.yaml": `# yaml-language-server: $schema=./node_modules/stratus/docs/stratus.schema.json
name: ${name}
services:
  hello:
    entry: services/hello/index.ts
    routes: ["GET /hello", "GET /hello/:name"]
    bindings:
      VISITS: { kv: {} }
    vars: { GREETING: Hello }
`,
    "services/hello/index.ts": `import type { Context, KVNamespace } from "stratus";

interface Env {
  VISITS: KVNamespace;
  GREETING: string;
}

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    const name = ctx.params.name ?? "world";
    const visits = Number((await env.VISITS.get(name)) ?? "0") + 1;
    await env.VISITS.put(name, String(visits));
    return Response.json({ message: \`\${env.GREETING}, \${name}!\`, visits });
  },
};
`,
    "test/hello.test.ts": `import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { startStack, type TestStack } from "stratus/testing";

let stack: TestStack;
before(async () => {
  stack = await startStack(new URL("..", import.meta.url).pathname);
});
after(() => stack.close());

test("GET /hello/:name greets and counts visits", async () => {
  const first = await stack.fetch("/hello/ada");
  assert.equal(first.status, 200);
  assert.deepEqual(await first.json(), { message: "Hello, ada!", visits: 1 });
  const second = await stack.fetch("/hello/ada");
  assert.deepEqual(await second.json(), { message: "Hello, ada!", visits: 2 });
});
`,
    "package.json": `${JSON.stringify(
      {
        name,
        private: true,
        type: "module",
        scripts: { dev: "stratus dev", test: 'node --no-node-snapshot --test "test/**/*.test.ts"' },
        devDependencies: { stratus: `file:${STRATUS_ROOT.replace(/\/$/, "")}` },
      },
      null,
      2,
    )}\n`,
    "tsconfig.json": `${JSON.stringify(
      {
        compilerOptions: {
          target: "es2024",
          module: "nodenext",
          strict: true,
          noEmit: true,
          allowImportingTsExtensions: true,
          lib: ["es2024", "dom", "dom.iterable"],
          types: [],
        },
        include: ["services", "test"],
      },
      null,
      2,
    )}\n`,
    ".gitignore": "node_modules/\n.stratus/\n",
  };
}

/** Writes a new project into `dir`; refuses a directory that has files. Returns the files written. */
export function initProject(dir: string): string[] {
  const abs = resolve(dir);
  if (existsSync(abs) && readdirSync(abs).length > 0) {
    throw new StratusError("STRATUS_E_CLI_USAGE", `${dir} already exists and is not empty; pick a new directory name`);
  }
  const name =
    basename(abs)
      .toLowerCase()
      .replace(/[^a-z0-9-]/g, "-")
      .replace(/^[^a-z]+/, "") || "app";
  const files = projectFiles(name);
  for (const [rel, text] of Object.entries(files)) {
    const path = join(abs, rel);
    mkdirSync(join(path, ".."), { recursive: true });
    writeFileSync(path, text);
  }
  return Object.keys(files).map((f) => relative(process.cwd(), join(abs, f)));
}
