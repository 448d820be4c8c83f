/**
 * Builds the isolate prelude (src/runtime/sandbox) into one script and, where V8 allows, a startup
 * snapshot, so a new isolate starts with every Web API already in its heap.
 *
 * Both are cached on disk (node_modules/.cache/stratus, or the temp directory), keyed by the
 * sandbox sources, the versions of the packages bundled into it, esbuild, Node, V8 and
 * isolated-vm: a process that finds them skips esbuild (about 13 MB of resident memory in each
 * worker process) and the snapshot build.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import type * as Esbuild from "esbuild";
import ivm from "isolated-vm";

const SANDBOX = fileURLToPath(new URL("./sandbox/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** Packages whose code ends up in the prelude, plus the tools that shape it. */
const PACKAGES = ["web-streams-polyfill", "whatwg-url", "tr46", "punycode", "webidl-conversions", "@exodus/bytes", "esbuild", "isolated-vm"];

let preludeCode: string | null = null;
let snapshot: ivm.ExternalCopy<ArrayBuffer> | null | undefined;
let cacheKey: string | null = null;

/** The folder of an installed package (some, like @exodus/bytes, do not export their package.json). */
function packageDir(name: string): string {
  const require = createRequire(join(ROOT, "package.json"));
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    return join(ROOT, "node_modules", name);
  }
}

/** A key that changes whenever the prelude or what it is built or loaded with could change. */
function key(): string {
  if (cacheKey !== null) return cacheKey;
  const h = createHash("sha256");
  for (const f of readdirSync(SANDBOX).sort()) h.update(f).update(readFileSync(join(SANDBOX, f)));
  // This file too: how the prelude is bundled (aliases, options) shapes what ends up in it.
  h.update(readFileSync(fileURLToPath(import.meta.url)));
  for (const p of PACKAGES) {
    try {
      h.update(p).update(String((JSON.parse(readFileSync(join(packageDir(p), "package.json"), "utf8")) as { version?: string }).version));
    } catch {
      h.update(p).update("?");
    }
  }
  h.update(process.version).update(process.versions.v8).update(process.arch).update(process.platform);
  cacheKey = h.digest("hex").slice(0, 24);
  return cacheKey;
}

function cacheDir(): string {
  for (const dir of [join(ROOT, "node_modules", ".cache", "stratus"), join(tmpdir(), `stratus-cache-${process.getuid?.() ?? "user"}`)]) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      // not writable: try the next
    }
  }
  return tmpdir();
}

function readCache(name: string): Buffer | null {
  try {
    return readFileSync(join(cacheDir(), name));
  } catch {
    return null;
  }
}

/** Writes atomically (another process may be writing the same file). */
function writeCache(name: string, data: string | Uint8Array): void {
  const dir = cacheDir();
  const tmp = join(dir, `${name}.${process.pid}.tmp`);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, join(dir, name));
  } catch {
    // a cache that cannot be written only costs the next process a rebuild
  }
}

/** The prelude script (built once, then read from the cache). */
export function preludeScript(): string {
  if (preludeCode === null) {
    const cached = readCache(`prelude-${key()}.js`);
    if (cached) preludeCode = cached.toString("utf8");
    else {
      // Loaded only on a cache miss: esbuild's JS and its child process cost memory in every worker.
      const require = createRequire(import.meta.url);
      const esbuild = require("esbuild") as typeof Esbuild;
      const result = esbuild.buildSync({
        entryPoints: [join(SANDBOX, "prelude.ts")],
        bundle: true,
        write: false,
        format: "iife",
        platform: "neutral",
        target: "es2024",
        mainFields: ["browser", "module", "main"],
        minify: true,
        keepNames: true,
        legalComments: "none",
        logLevel: "silent",
        // whatwg-url's tr46 goes through a shim that loads the real one (and its large Unicode
        // table) only for hosts that need more than lowercasing: see sandbox/tr46-lazy.ts.
        // whatwg-url asks for @exodus/bytes' full encodings; the URL API needs UTF-8 only, and
        // the legacy multi-byte tables are left out of the isolate (see sandbox/encoding.ts).
        alias: {
          "@exodus/bytes/encoding.js": join(packageDir("@exodus/bytes"), "encoding-lite.js"),
          tr46: join(SANDBOX, "tr46-lazy.ts"),
          "stratus-tr46-real": packageDir("tr46"),
        },
      });
      preludeCode = result.outputFiles[0]!.text;
      writeCache(`prelude-${key()}.js`, preludeCode);
    }
  }
  return preludeCode;
}

/** A startup snapshot of the prelude, or null where it cannot be made (then each isolate runs the prelude). */
export function preludeSnapshot(): ivm.ExternalCopy<ArrayBuffer> | null {
  if (snapshot === undefined) {
    const name = `prelude-${key()}.snapshot`;
    const cached = readCache(name);
    if (cached && cached.byteLength > 0) {
      snapshot = new ivm.ExternalCopy(new Uint8Array(cached).buffer);
    } else {
      try {
        snapshot = ivm.Isolate.createSnapshot([{ code: preludeScript(), filename: "stratus:prelude" }]);
        writeCache(name, new Uint8Array(snapshot.copy()));
      } catch {
        snapshot = null;
      }
    }
  }
  return snapshot;
}
