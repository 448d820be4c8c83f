/**
 * Maps stack frames of a bundle (`stratus:<service>.js:line:col`, the name an isolate compiles it
 * under) back to the user's source files and lines with the bundle's source map. Runs on the host,
 * on error replies, task outcomes and console lines as they leave the isolate.
 */
import { originalPositionFor, TraceMap } from "@jridgewell/trace-mapping";

/** Rewrites bundle positions in a text; returns the text unchanged when nothing maps. */
export type StackMapper = (text: string) => string;

/** The identity mapper (a bundle without a source map, e.g. uploaded to a node). */
export const NO_MAP: StackMapper = (text) => text;

/** The file name an isolate compiles `service`'s bundle under (positions in its stacks name it). */
export function bundleFileName(service: string): string {
  return `stratus:${service}.js`;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * A mapper for `service`'s bundle and its source map (JSON text, sources relative to the project
 * directory). The map is parsed on first use: most versions never throw.
 */
export function stackMapper(service: string, map: string | undefined): StackMapper {
  if (!map) return NO_MAP;
  const file = bundleFileName(service);
  const frame = new RegExp(`${escapeRegExp(file)}:(\\d+):(\\d+)`, "g");
  let trace: TraceMap | null = null;
  return (text) => {
    if (!text.includes(file)) return text;
    try {
      trace ??= new TraceMap(map);
    } catch {
      return text;
    }
    const t = trace;
    return text.replace(frame, (whole, line: string, col: string) => {
      const pos = originalPositionFor(t, { line: Number(line), column: Number(col) - 1 });
      return pos.source === null || pos.line === null ? whole : `${pos.source}:${pos.line}:${(pos.column ?? 0) + 1}`;
    });
  };
}

/**
 * The first frame of a mapped stack that points into the user's own code (not node_modules, not
 * the bundle itself), as "file:line:col"; null when there is none.
 */
export function firstUserFrame(mappedStack: string): string | null {
  for (const m of mappedStack.matchAll(/(?:\(|at )([^\s()]+:\d+:\d+)\)?/g)) {
    const loc = m[1]!;
    if (!loc.includes("node_modules/") && !loc.startsWith("stratus:")) return loc;
  }
  return null;
}
