/**
 * Builds the isolate prelude (src/runtime/sandbox) into one script and, where V8 allows, a startup
 * snapshot, so a new isolate starts with every Web API already in its heap.
 *
 * Both are cached on disk (in a checkout node_modules/.cache/stratus; in an installed package,
 * whose folder may be read-only, $XDG_CACHE_HOME/stratus or ~/.cache/stratus; else the temp
 * directory), keyed by the sandbox sources, the versions of the packages bundled into it,
 * esbuild, Node, V8 and isolated-vm: a process that finds them skips esbuild (about 13 MB of
 * resident memory in each worker process) and the snapshot build. The published package ships
 * the prelude and the lazy modules prebuilt (./prelude/, made by scripts/build-package.ts) instead
 * of the sandbox sources; only the snapshot, which depends on the V8 build, is made at run time.
 */
import { createHash } from "node:crypto";
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { homedir, tmpdir } from "node:os";
import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type * as Esbuild from "esbuild";
import ivm from "isolated-vm";

const SANDBOX = fileURLToPath(new URL("./sandbox/", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The prebuilt prelude and lazy modules of the published package (absent in a checkout). */
const PREBUILT = fileURLToPath(new URL("./prelude/", import.meta.url));
const prebuilt = existsSync(join(PREBUILT, "prelude.js"));
/** Running from an installed package (under node_modules), whose folder may be read-only. */
const INSTALLED = ROOT.split(sep).includes("node_modules");
/** Packages whose code ends up in the prelude, plus the tools that shape it. */
const PACKAGES = ["web-streams-polyfill", "whatwg-url", "tr46", "punycode", "webidl-conversions", "@exodus/bytes", "esbuild", "isolated-vm"];

let preludeCode: string | null = null;
const lazyCode = new Map<string, string>();
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
  if (prebuilt) {
    for (const f of readdirSync(PREBUILT).sort()) h.update(f).update(readFileSync(join(PREBUILT, f)));
  } else {
    for (const f of readdirSync(SANDBOX).sort()) h.update(f).update(readFileSync(join(SANDBOX, f)));
    // The wire format is shared with the host and bundled into the prelude.
    h.update("protocol.ts").update(readFileSync(join(SANDBOX, "..", "protocol.ts")));
  }
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

/**
 * The cache folder, or null when none is safe to use. A folder is used only when it is a real
 * directory (not a symlink) owned by this user and writable by no one else: the temp directory is
 * shared, and a prelude or snapshot planted there by another local user would run in every isolate.
 */
let cacheFolder: string | null | undefined;
function cacheDir(): string | null {
  if (cacheFolder !== undefined) return cacheFolder;
  const user = join(process.env["XDG_CACHE_HOME"] || join(homedir(), ".cache"), "stratus");
  const checkout = join(ROOT, "node_modules", ".cache", "stratus");
  const temp = join(tmpdir(), `stratus-cache-${process.getuid?.() ?? "user"}`);
  cacheFolder = null;
  for (const dir of INSTALLED ? [user, temp] : [checkout, temp]) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      if (!ownedAndPrivate(dir)) continue;
      cacheFolder = dir;
      break;
    } catch {
      // not writable: try the next
    }
  }
  return cacheFolder;
}

/** A directory (not a symlink) of this user that no one else can write to. */
export function ownedAndPrivate(dir: string): boolean {
  const st = lstatSync(dir);
  if (!st.isDirectory()) return false;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return false;
  return (st.mode & 0o022) === 0;
}

function readCache(name: string): Buffer | null {
  try {
    const dir = cacheDir();
    return dir === null ? null : readFileSync(join(dir, name));
  } catch {
    return null;
  }
}

/** A file of the prebuilt prelude (published package only). */
function readPrebuilt(name: string): Buffer | null {
  if (!prebuilt) return null;
  try {
    return readFileSync(join(PREBUILT, name));
  } catch {
    return null;
  }
}

/** Writes atomically (another process may be writing the same file). */
function writeCache(name: string, data: string | Uint8Array): void {
  const dir = cacheDir();
  if (dir === null) return;
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
    const cached = readPrebuilt("prelude.js") ?? readCache(`prelude-${key()}.js`);
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
        // Its tr46 goes through a shim that loads the real one only when a host needs it.
        alias: {
          "@exodus/bytes/encoding.js": join(packageDir("@exodus/bytes"), "encoding-lite.js"),
          tr46: join(SANDBOX, "tr46-lazy.ts"),
        },
      });
      preludeCode = result.outputFiles[0]!.text;
      writeCache(`prelude-${key()}.js`, preludeCode);
    }
  }
  return preludeCode;
}

/**
 * Modules the prelude loads only when first needed, kept out of the snapshot because every byte of
 * source in it makes each new isolate slower to create: name -> package entry.
 */
export const LAZY_MODULES: Readonly<Record<string, () => string>> = {
  // UTS #46 with its Unicode tables (~240 KB): only hosts that are not plain ASCII need it.
  tr46: () => join(packageDir("tr46"), "index.js"),
  // The Encoding standard with the legacy multi-byte tables (~170 KB): only TextDecoders for
  // Shift_JIS, EUC-JP, ISO-2022-JP, GBK, gb18030, Big5 and EUC-KR need it.
  encoding: () => join(packageDir("@exodus/bytes"), "encoding.js"),
};

/**
 * The source of lazy module `name` for the isolate (null for any other name: the name comes from
 * inside the isolate). Evaluated there, the source's completion value is the module's exports.
 */
export function lazyModuleSource(name: unknown): string | null {
  if (typeof name !== "string" || !Object.hasOwn(LAZY_MODULES, name)) return null;
  let code = lazyCode.get(name);
  if (code === undefined) {
    const file = `lazy-${name}-${key()}.js`;
    const cached = readPrebuilt(`lazy-${name}.js`) ?? readCache(file);
    if (cached) code = cached.toString("utf8");
    else {
      const require = createRequire(import.meta.url);
      const esbuild = require("esbuild") as typeof Esbuild;
      const result = esbuild.buildSync({
        entryPoints: [LAZY_MODULES[name]!()],
        bundle: true,
        write: false,
        format: "iife",
        globalName: "__stratus_lazy",
        platform: "neutral",
        target: "es2024",
        mainFields: ["browser", "module", "main"],
        minify: true,
        legalComments: "none",
        logLevel: "silent",
      });
      // Wrapped so the bundle's var stays local and the exports are the completion value.
      code = `(() => {${result.outputFiles[0]!.text}; return __stratus_lazy; })()`;
      writeCache(file, code);
    }
    lazyCode.set(name, code);
  }
  return code;
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
