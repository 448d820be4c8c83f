// `npm run build` (and `prepack`): the published package's dist/. The repo runs its TypeScript
// directly; Node refuses to strip types under node_modules, so the package ships JavaScript:
//   dist/**            src/** compiled by tsc (tsconfig.build.json): .js + .d.ts, tests left out
//   dist/sdk/          sdk/index.ts, the types (and PermanentError) user functions import
//   dist/runtime/prelude/  the isolate prelude and its lazy modules, prebuilt with esbuild, so the
//                      sandbox sources do not ship and no isolate start needs the bundler
// Run it with `node --no-node-snapshot scripts/build-package.ts`.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LAZY_MODULES, lazyModuleSource, preludeScript } from "../src/runtime/prelude-build.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const DIST = join(ROOT, "dist");

function tsc(project: string): void {
  const bin = createRequire(join(ROOT, "package.json")).resolve("typescript/bin/tsc");
  const r = spawnSync(process.execPath, [bin, "-p", project], { cwd: ROOT, stdio: "inherit" });
  if (r.status !== 0) throw new Error(`tsc -p ${project} failed (exit ${r.status ?? r.signal})`);
}

function* files(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) yield* files(path);
    else yield path;
  }
}

rmSync(DIST, { recursive: true, force: true });
tsc("tsconfig.build.json");
tsc("sdk/tsconfig.build.json");

// tsc rewrites "./x.ts" to "./x.js" in the JavaScript it emits but keeps the specifier as written
// in declarations; a user's TypeScript resolves ".js" to the .d.ts beside it.
const relativeTs = /((?:from|import)\s*\(?\s*["'])(\.{1,2}\/[^"']*?)\.ts(["'])/g;
for (const file of files(DIST)) {
  if (!file.endsWith(".d.ts")) continue;
  const text = readFileSync(file, "utf8");
  const fixed = text.replace(relativeTs, "$1$2.js$3");
  if (fixed !== text) writeFileSync(file, fixed);
}

const prelude = join(DIST, "runtime", "prelude");
mkdirSync(prelude, { recursive: true });
writeFileSync(join(prelude, "prelude.js"), preludeScript());
for (const name of Object.keys(LAZY_MODULES)) writeFileSync(join(prelude, `lazy-${name}.js`), lazyModuleSource(name)!);

let count = 0;
for (const _ of files(DIST)) count++;
process.stdout.write(`dist/: ${count} files\n`);
