/**
 * Limits on a stack file sent to a node, and the parse that runs off the primary's event loop: a
 * stack file is read, counted and validated in a worker thread, so a huge or hostile one sent to
 * /v1/plan, /v1/apply or a deploy never stalls the gateway or the control API.
 */
import { Worker } from "node:worker_threads";
import { parse } from "yaml";
import type { ResolvedStack } from "../config/index.ts";
import { StratusError, toStratusError } from "../errors/index.ts";

/** The documented limits of a stack file a node takes (docs/node.md, "Limits"). */
export const STACK_LIMITS = Object.freeze({
  /** Bytes of the stack file (UTF-8). */
  bytes: 1024 * 1024,
  services: 200,
  /** Routes of one service. */
  routesPerService: 200,
  /** Routes of all services together. */
  routes: 2000,
  /** Bindings of one service. */
  bindingsPerService: 100,
  /** Vars of one service. */
  varsPerService: 200,
  /** Subscriptions of one service. */
  subscriptionsPerService: 100,
  /** Schedules of one service. */
  schedulesPerService: 100,
  topics: 1000,
  /** Wall time the parse and validation may take, in ms. */
  parseMs: 10_000,
});

function count(v: unknown): number {
  if (Array.isArray(v)) return v.length;
  if (typeof v === "object" && v !== null) return Object.keys(v).length;
  return 0;
}

function over(what: string, n: number, max: number, fix: string): never {
  throw new StratusError("STRATUS_E_STACK_TOO_LARGE", `the stack file has ${n} ${what}, over the limit of ${max}; ${fix}`);
}

/** Checks the size of a stack file's text, before it is parsed. */
export function checkStackSize(yaml: string): void {
  const bytes = Buffer.byteLength(yaml, "utf8");
  if (bytes > STACK_LIMITS.bytes) over("bytes", bytes, STACK_LIMITS.bytes, "split the stack into several stacks, one per node");
}

/** Checks the counts of a parsed (not yet validated) stack file against STACK_LIMITS. */
export function checkStackCounts(raw: unknown): void {
  if (typeof raw !== "object" || raw === null) return;
  const L = STACK_LIMITS;
  const split = "split the stack into several stacks, one per node";
  const services = (raw as { services?: unknown }).services;
  const n = count(services);
  if (n > L.services) over("services", n, L.services, split);
  const topics = count((raw as { topics?: unknown }).topics);
  if (topics > L.topics) over("topics", topics, L.topics, split);
  let routes = 0;
  if (typeof services === "object" && services !== null) {
    for (const [name, s] of Object.entries(services as Record<string, unknown>)) {
      if (typeof s !== "object" || s === null) continue;
      const o = s as Record<string, unknown>;
      const r = count(o["routes"]);
      routes += r;
      if (r > L.routesPerService) over(`routes in service "${name.slice(0, 64)}"`, r, L.routesPerService, "route a path prefix (/items/*) instead");
      const b = count(o["bindings"]);
      if (b > L.bindingsPerService) over(`bindings in service "${name.slice(0, 64)}"`, b, L.bindingsPerService, "split the service");
      const v = count(o["vars"]);
      if (v > L.varsPerService)
        over(`vars in service "${name.slice(0, 64)}"`, v, L.varsPerService, "put the values in a KV namespace or a file bundled with the code");
      const sub = count(o["subscribe"]);
      if (sub > L.subscriptionsPerService) over(`subscriptions in service "${name.slice(0, 64)}"`, sub, L.subscriptionsPerService, "split the service");
      const sch = count(o["schedules"]);
      if (sch > L.schedulesPerService) over(`schedules in service "${name.slice(0, 64)}"`, sch, L.schedulesPerService, "split the service");
    }
  }
  if (routes > L.routes) over("routes", routes, L.routes, split);
}

/** Parses, bounds and validates a stack file in this thread (the worker calls this). */
export async function parseBounded(yaml: string, file: string): Promise<ResolvedStack> {
  checkStackSize(yaml);
  let raw: unknown;
  try {
    raw = parse(yaml, { maxAliasCount: 100 });
  } catch {
    raw = null; // parseStack reports the syntax error with its line.
  }
  checkStackCounts(raw);
  const { parseStack } = await import("../config/index.ts");
  return parseStack(yaml, file, { checkEntries: false });
}

type Job = { worker: Worker; resolve: (s: ResolvedStack) => void; reject: (e: unknown) => void; timer: NodeJS.Timeout };

/**
 * One worker thread that parses stack files, one at a time. A parse that takes longer than
 * STACK_LIMITS.parseMs ends the thread (a fresh one takes the next); the caller gets a clear error.
 */
export class StackParser {
  #worker: Worker | null = null;
  #jobs = new Map<number, Job>();
  #next = 1;

  #thread(): Worker {
    if (this.#worker) return this.#worker;
    // .ts in a checkout, .js in the published package (dist/).
    const w = new Worker(new URL(import.meta.url.endsWith(".ts") ? "./stack-worker.ts" : "./stack-worker.js", import.meta.url));
    w.unref();
    w.on("message", (m: { id: number; stack?: ResolvedStack; error?: { code: string; message: string } }) => {
      const job = this.#jobs.get(m.id);
      if (!job) return;
      this.#jobs.delete(m.id);
      clearTimeout(job.timer);
      if (m.error) job.reject(toStratusError(m.error));
      else job.resolve(m.stack!);
    });
    const fail = (err: unknown): void => {
      if (this.#worker === w) this.#worker = null;
      for (const [id, job] of this.#jobs) {
        if (job.worker !== w) continue;
        clearTimeout(job.timer);
        job.reject(toStratusError(err));
        this.#jobs.delete(id);
      }
    };
    w.on("error", fail);
    w.on("exit", () => fail(new StratusError("STRATUS_E_INTERNAL", "the stack parser thread stopped; send the request again")));
    this.#worker = w;
    return w;
  }

  /** Parses, bounds and validates `yaml` off this thread's event loop. */
  parse(yaml: string, file: string): Promise<ResolvedStack> {
    // Refused before it is copied to the thread.
    checkStackSize(yaml);
    const id = this.#next++;
    const w = this.#thread();
    return new Promise<ResolvedStack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#jobs.delete(id);
        reject(
          new StratusError(
            "STRATUS_E_STACK_TOO_LARGE",
            `the stack file took over ${STACK_LIMITS.parseMs / 1000}s to validate and was given up; make it smaller (docs/node.md, "Limits")`,
          ),
        );
        if (this.#worker === w) this.#worker = null;
        void w.terminate();
      }, STACK_LIMITS.parseMs);
      timer.unref();
      this.#jobs.set(id, { worker: w, resolve, reject, timer });
      w.postMessage({ id, yaml, file });
    });
  }

  /** Ends the thread. */
  async close(): Promise<void> {
    const w = this.#worker;
    this.#worker = null;
    if (w) await w.terminate();
  }
}
