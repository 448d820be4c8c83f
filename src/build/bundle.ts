/**
 * Bundles one service entry (TypeScript, npm dependencies included) into one script for a V8
 * isolate. Node built-ins are rejected: an isolate has no file system, process or sockets.
 */
import { createHash } from "node:crypto";
import { builtinModules } from "node:module";
import { join, relative } from "node:path";
import * as esbuild from "esbuild";
import { StratusError } from "../errors/index.ts";

/** The global name the bundle assigns its module namespace to. */
export const BUNDLE_GLOBAL = "__stratus_module";

/** A built service: one script plus what it was made from. */
export interface ServiceBundle {
  /** The script; running it sets globalThis.__stratus_module to the module namespace. */
  readonly code: string;
  /** sha256 of the code, hex: the identity of this build. */
  readonly hash: string;
  /**
   * The source map (JSON; sources relative to the project directory, no sources content): the
   * runtime maps stack frames of the bundle back to the user's files and lines with it.
   */
  readonly map: string;
  /** Absolute paths of every source file in the bundle (for the file watcher). */
  readonly inputs: readonly string[];
}

const BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

function rejectNodeBuiltins(projectDir: string): esbuild.Plugin {
  return {
    name: "stratus-no-node-builtins",
    setup(build) {
      build.onResolve({ filter: /^[a-z_:/]+$/ }, (args) => {
        if (!BUILTINS.has(args.path) && !args.path.startsWith("node:")) return undefined;
        const importer = relative(projectDir, args.importer) || args.importer;
        return {
          errors: [
            {
              text: `imports the Node built-in "${args.path}" (in ${importer}); isolate services have no file system, process or sockets: use the bindings in env (KV, SQL, fetch) instead`,
            },
          ],
        };
      });
    },
  };
}

/** Bundles `entry`; `projectDir` makes file names in errors relative. Throws STRATUS_E_BUILD / STRATUS_E_NODE_BUILTIN. */
export async function bundleService(entry: string, projectDir: string): Promise<ServiceBundle> {
  let result: esbuild.BuildResult<{ write: false; metafile: true }>;
  try {
    result = await esbuild.build({
      entryPoints: [entry],
      absWorkingDir: projectDir,
      bundle: true,
      write: false,
      metafile: true,
      format: "iife",
      globalName: BUNDLE_GLOBAL,
      platform: "neutral",
      target: "es2024",
      // async/await lowered to generators: each await then goes through Promise.prototype.then,
      // which the isolate's prelude wraps to carry the request it runs for, so console lines and
      // I/O are attributed to the right request when many share an instance (runtime.md).
      supported: { "async-await": false, "async-generator": false, "for-await": false },
      mainFields: ["browser", "module", "main"],
      conditions: ["workerd", "worker", "browser"],
      resolveExtensions: [".ts", ".tsx", ".mts", ".js", ".mjs", ".jsx", ".json"],
      // External: the code carries no sourceMappingURL comment, so its hash (the version) does
      // not depend on the map. The outfile is never written; it names the map's base directory.
      sourcemap: "external",
      sourcesContent: false,
      outfile: join(projectDir, "__stratus_bundle.js"),
      logLevel: "silent",
      legalComments: "none",
      plugins: [rejectNodeBuiltins(projectDir)],
    });
  } catch (err) {
    const failure = err as esbuild.BuildFailure;
    const msgs = (failure.errors ?? []).map((e) => {
      const loc = e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ` : "";
      return `${loc}${e.text}`;
    });
    const builtin = msgs.some((m) => m.includes("imports the Node built-in"));
    throw new StratusError(builtin ? "STRATUS_E_NODE_BUILTIN" : "STRATUS_E_BUILD", msgs.length > 0 ? msgs.join("\n") : String(err), { cause: err });
  }
  const code = result.outputFiles.find((f) => f.path.endsWith(".js"))!.text;
  const map = result.outputFiles.find((f) => f.path.endsWith(".js.map"))?.text ?? "";
  return {
    code,
    map,
    hash: createHash("sha256").update(code).digest("hex"),
    inputs: Object.keys(result.metafile.inputs).map((p) => (p.startsWith("/") ? p : `${projectDir}/${p}`)),
  };
}
