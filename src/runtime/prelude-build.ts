/**
 * Builds the isolate prelude (src/runtime/sandbox) into one script and, where V8 allows, a startup
 * snapshot, so a new isolate starts with every Web API already in its heap.
 */
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";
import ivm from "isolated-vm";

let preludeCode: string | null = null;
let snapshot: ivm.ExternalCopy<ArrayBuffer> | null | undefined;

/** The prelude script (built once per process, about 30 ms). */
export function preludeScript(): string {
  if (preludeCode === null) {
    const result = esbuild.buildSync({
      entryPoints: [fileURLToPath(new URL("./sandbox/prelude.ts", import.meta.url))],
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
    });
    preludeCode = result.outputFiles[0]!.text;
  }
  return preludeCode;
}

/** A startup snapshot of the prelude, or null where it cannot be made (then each isolate runs the prelude). */
export function preludeSnapshot(): ivm.ExternalCopy<ArrayBuffer> | null {
  if (snapshot === undefined) {
    try {
      snapshot = ivm.Isolate.createSnapshot([{ code: preludeScript(), filename: "stratus:prelude" }]);
    } catch {
      snapshot = null;
    }
  }
  return snapshot;
}
