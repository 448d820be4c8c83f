/**
 * Runs the conformance cases (test/conformance/cases/<api>.js) in Node and inside a fresh isolate
 * built from the real prelude, and compares the passes per API. Used by test/conformance.test.ts;
 * `node --no-node-snapshot test/conformance/run.ts [api...]` prints the same table by hand.
 */
import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import ivm from "isolated-vm";
import type { ResolvedService } from "../../src/config/index.ts";
import { HostIo } from "../../src/runtime/host-io.ts";
import { createBlankIsolate } from "../../src/runtime/instance.ts";
import { lazyModuleSource } from "../../src/runtime/prelude-build.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const CASES = join(HERE, "cases");
const KNOWN = join(HERE, "known");
const HARNESS = readFileSync(join(HERE, "harness.js"), "utf8");
/** Longer than the harness's own 5 s per-test timeout, so a stuck file still reports what it ran. */
const FILE_TIMEOUT_MS = 60_000;

/** One case's outcome. */
export interface CaseResult {
  name: string;
  status: "PASS" | "FAIL";
  message?: string;
}

/** The outcome of one API's case file in both places. */
export interface ApiReport {
  api: string;
  node: CaseResult[];
  isolate: CaseResult[];
  /** Case names the isolate is known to fail (test/conformance/known/<api>.txt). */
  known: Set<string>;
}

/** The APIs that have a case file. */
export function apis(): string[] {
  return readdirSync(CASES)
    .filter((f) => f.endsWith(".js"))
    .map((f) => basename(f, ".js"))
    .sort();
}

/** The harness and one case file as one script; a case file that throws at top level is a failed case. */
function script(api: string): string {
  const body = readFileSync(join(CASES, `${api}.js`), "utf8");
  return `${HARNESS}\n;(function () {\ntry {\n${body}\n} catch (e) { __conformance_record_load_error(e); }\n})();\n`;
}

function parse(json: string): CaseResult[] {
  return JSON.parse(json) as CaseResult[];
}

/** Runs one case file in a child Node process (its own globals, nothing left behind in ours). */
export function runInNode(api: string): Promise<CaseResult[]> {
  // A listener's exception is reported, not thrown (DOM); Node reports it as uncaught: ignore it here.
  const src = `process.on("uncaughtException", () => {});\n${script(api)}\n__conformance_run().then((r) => { process.stdout.write(r); process.exit(0); }, (e) => { console.error(e); process.exit(1); });\n`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--no-node-snapshot", "--no-warnings", "--input-type=commonjs", "-"], { stdio: ["pipe", "pipe", "pipe"] });
    let out = "";
    let err = "";
    const timer = setTimeout(() => child.kill("SIGKILL"), FILE_TIMEOUT_MS);
    child.stdout.on("data", (d: Buffer) => (out += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (err += d.toString("utf8")));
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(parse(out));
      else reject(new Error(`node run of ${api}.js exited ${code}: ${err.slice(0, 2000)}`));
    });
    child.stdin.end(src);
  });
}

/** The host side a real instance wires into its isolate, minus bindings (there are none here). */
function wire(context: ivm.Context, timers: Map<number, NodeJS.Timeout>, isDead: () => boolean): void {
  const g = context.global;
  const service = { name: "conformance", bindings: {} } as unknown as ResolvedService;
  const hostIo = new HostIo(service, null as never, null as never, new Set(), null);
  const fire = g.getSync("__stratus", { reference: true }).getSync("fire", { reference: true });
  const log = new ivm.Callback(() => undefined, { ignored: true });
  const io = new ivm.Reference(async (op: string, args: unknown[]) => {
    try {
      return new ivm.ExternalCopy([null, await hostIo.io(op, args, new Set(), null)]).copyInto({ release: true });
    } catch (err) {
      const e = err as { code?: string; message?: string };
      return new ivm.ExternalCopy([{ code: e.code ?? "STRATUS_E_INTERNAL", message: String(e.message ?? err) }, null]).copyInto({ release: true });
    }
  });
  const random = new ivm.Callback((n: number) =>
    new ivm.ExternalCopy(randomFillSync(new Uint8Array(Math.min(65536, Math.max(0, n | 0))))).copyInto({ release: true }),
  );
  const timer = new ivm.Callback(
    (id: number, ms: number) => {
      timers.set(
        id,
        setTimeout(() => {
          timers.delete(id);
          if (!isDead()) fire.apply(undefined, [id]).catch(() => undefined);
        }, ms),
      );
    },
    { ignored: true },
  );
  const clear = new ivm.Callback(
    (id: number) => {
      clearTimeout(timers.get(id));
      timers.delete(id);
    },
    { ignored: true },
  );
  const done = new ivm.Callback(() => undefined, { ignored: true });
  const lazy = new ivm.Callback(lazyModuleSource);
  const progress = new ivm.Callback(() => undefined, { ignored: true });
  g.getSync("__stratus", { reference: true })
    .getSync("init", { reference: true })
    .applySync(undefined, ["{}", 128 * 1024 * 1024, log, io, random, timer, clear, done, progress, lazy]);
}

/** Runs one case file inside a fresh isolate made the way the runtime makes them. */
export async function runInIsolate(api: string): Promise<CaseResult[]> {
  const blank = createBlankIsolate(128);
  const timers = new Map<number, NodeJS.Timeout>();
  let dead = false;
  try {
    wire(blank.context, timers, () => dead);
    await blank.isolate.compileScriptSync(script(api), { filename: `conformance:${api}.js` }).run(blank.context, { timeout: FILE_TIMEOUT_MS });
    const json = (await blank.context.eval("__conformance_run()", { promise: true, copy: true, timeout: FILE_TIMEOUT_MS })) as string;
    return parse(json);
  } finally {
    dead = true;
    for (const t of timers.values()) clearTimeout(t);
    blank.isolate.dispose();
  }
}

function known(api: string): Set<string> {
  try {
    return new Set(
      readFileSync(join(KNOWN, `${api}.txt`), "utf8")
        .split("\n")
        .map((l) => l.trim())
        .filter((l) => l !== "" && !l.startsWith("#")),
    );
  } catch {
    return new Set();
  }
}

/** Runs one API in both places. */
export async function runApi(api: string): Promise<ApiReport> {
  const [node, isolate] = await Promise.all([runInNode(api), runInIsolate(api)]);
  return { api, node, isolate, known: known(api) };
}

function passes(rs: CaseResult[]): number {
  return rs.filter((r) => r.status === "PASS").length;
}

/** The problems with one API's report: the 95% bar, unlisted failures and stale known-failure entries. */
export function problems(r: ApiReport): string[] {
  const out: string[] = [];
  const nodePass = new Set(r.node.filter((c) => c.status === "PASS").map((c) => c.name));
  const isoPass = new Set(r.isolate.filter((c) => c.status === "PASS").map((c) => c.name));
  const isoFail = new Map(r.isolate.filter((c) => c.status === "FAIL").map((c) => [c.name, c.message ?? ""]));
  const shared = [...nodePass].filter((n) => isoPass.has(n)).length;
  if (nodePass.size > 0 && shared < 0.95 * nodePass.size) {
    out.push(`${r.api}: the isolate passes ${shared} of the ${nodePass.size} cases Node passes (${((100 * shared) / nodePass.size).toFixed(1)}%, needs 95%)`);
  }
  for (const name of nodePass) {
    if (isoPass.has(name) || r.known.has(name)) continue;
    const why = isoFail.has(name) ? isoFail.get(name) : "did not run in the isolate";
    out.push(`${r.api}: "${name}" passes in Node but fails in the isolate and is not in known/${r.api}.txt: ${why}`);
  }
  for (const name of r.known) {
    if (isoPass.has(name)) out.push(`${r.api}: "${name}" is listed in known/${r.api}.txt but passes now; remove it`);
    else if (!r.node.some((c) => c.name === name)) out.push(`${r.api}: "${name}" is listed in known/${r.api}.txt but there is no such case`);
  }
  return out;
}

/** A table of passes per API in Node and the isolate. */
export function table(reports: ApiReport[]): string {
  const rows = [["api", "cases", "node", "isolate", "isolate/node", "known"]];
  for (const r of reports) {
    const n = passes(r.node);
    const nodePass = new Set(r.node.filter((c) => c.status === "PASS").map((c) => c.name));
    const shared = r.isolate.filter((c) => c.status === "PASS" && nodePass.has(c.name)).length;
    rows.push([
      r.api,
      String(r.node.length),
      String(n),
      String(passes(r.isolate)),
      n === 0 ? "-" : `${((100 * shared) / n).toFixed(1)}%`,
      String(r.known.size),
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows.map((row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ")).join("\n");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const wanted = process.argv.slice(2);
  const reports: ApiReport[] = [];
  for (const api of wanted.length > 0 ? wanted : apis()) reports.push(await runApi(api));
  process.stdout.write(`${table(reports)}\n`);
  for (const r of reports) {
    for (const c of r.isolate) if (c.status === "FAIL") process.stdout.write(`isolate FAIL ${r.api}: ${c.name}: ${c.message}\n`);
    for (const c of r.node) if (c.status === "FAIL") process.stdout.write(`node    FAIL ${r.api}: ${c.name}: ${c.message}\n`);
  }
}
