/** `stratus init`: scaffolds a project with one service, a stack file and a test. */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, join, relative, resolve } from "node:path";
import { StratusError } from "../errors/index.ts";

/** This package's package.json (beside src/ in a checkout, beside dist/ when installed). */
const OWN = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
  version: string;
  devDependencies?: Record<string, string>;
};

/**
 * The dependencies of a new project: this version of Stratus as a semver range (never a path into
 * wherever this copy happens to be), and the TypeScript and Node types Stratus itself is checked with.
 */
export function projectDependencies(): { dependencies: Record<string, string>; devDependencies: Record<string, string> } {
  return {
    dependencies: { stratus: `^${OWN.version}` },
    devDependencies: {
      "@types/node": OWN.devDependencies?.["@types/node"] ?? "^24.0.0",
      typescript: OWN.devDependencies?.["typescript"] ?? "^6.0.0",
    },
  };
}

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
        engines: { node: ">=24" },
        scripts: {
          dev: "stratus dev",
          check: "stratus check",
          typecheck: "tsc -p . && tsc -p test",
          test: 'node --no-node-snapshot --test "test/**/*.test.ts"',
        },
        ...projectDependencies(),
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
          // Services run in an isolate: no Node APIs, so no Node types.
          types: [],
          skipLibCheck: true,
        },
        include: ["services"],
      },
      null,
      2,
    )}\n`,
    "test/tsconfig.json": `${JSON.stringify({ extends: "../tsconfig.json", compilerOptions: { types: ["node"] }, include: ["**/*.ts"] }, null, 2)}\n`,
    ".gitignore": "node_modules/\n.stratus/\n",
  };
}

/** Writes a new project into `dir`; refuses a directory that has files (a `.git` folder alone is fine). Returns the files written. */
export function initProject(dir: string): string[] {
  const abs = resolve(dir);
  if (existsSync(abs)) {
    if (!statSync(abs).isDirectory()) throw new StratusError("STRATUS_E_CLI_USAGE", `${dir} already exists and is a file; pick a new directory name`);
    // A fresh `git init` is still empty for init's purpose: nothing of it can be overwritten.
    const present = readdirSync(abs).filter((f) => f !== ".git");
    if (present.length > 0) {
      const shown = present.slice(0, 3).join(", ") + (present.length > 3 ? ", ..." : "");
      throw new StratusError(
        "STRATUS_E_CLI_USAGE",
        `${dir} already exists and is not empty (${shown}); init writes only into a new or empty directory, so it overwrites nothing: pick a new directory name`,
      );
    }
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
