/**
 * ClusterWorkers: supervised worker processes (node:cluster), one per core by default, sharing
 * the gateway port. A worker that dies (isolated-vm warns that running out of memory can take a
 * whole process down) is replaced and reloaded while the others keep serving.
 */
import cluster, { type Worker } from "node:cluster";
import { fileURLToPath } from "node:url";
import { encodeBackends, type Backends } from "../backends/index.ts";
import type { ResolvedService, ResolvedStack } from "../config/index.ts";
import { sumReports, type CanarySticky, type CpuReport } from "../runtime/index.ts";
import { StratusError, type ErrorCode } from "../errors/index.ts";
import type { BundleRef, LoadOutcome } from "../stack/index.ts";
import { aggregateMetrics, type Logger, type MetricsJson } from "../telemetry/index.ts";
import type { Registry } from "prom-client";
import type { Workers } from "./workers.ts";

/** Primary -> worker messages. */
export type ToWorker =
  | { type: "start"; port: number; host: string; seq: number }
  | { type: "load"; stack: ResolvedStack; bundles: BundleRef[]; secrets: [string, string][]; seq: number }
  | { type: "metrics"; seq: number }
  | { type: "canary"; service: string; canary: CanarySpec | null; seq: number }
  | { type: "logs"; since?: number; service?: string; limit?: number; seq: number }
  | { type: "stop"; seq: number }
  | { type: "grant"; id: number; ok: boolean; seq: 0 }
  | { type: "reclaim"; service: string; seq: 0 }
  | { type: "available"; service: string; seq: 0 }
  | { type: "cpu"; others: CpuReport; seq: 0 };

/** Worker -> primary messages. */
export type FromWorker =
  | { type: "listening"; port: number; seq: number }
  | { type: "loaded"; outcomes: LoadOutcome[]; seq: number }
  | { type: "canaried"; seq: number }
  | { type: "logs"; lines: Record<string, unknown>[]; seq: number }
  | { type: "metrics"; metrics: MetricsJson; seq: number }
  | { type: "failed"; message: string; code?: string; seq: number }
  | { type: "recycle"; rssMb: number; seq: 0 }
  | { type: "take"; service: string; id: number; seq: 0 }
  | { type: "give"; service: string; seq: 0 }
  | { type: "cpu"; report: CpuReport; seq: 0 };

/** Sends to a worker that may be on its way out: a closed channel is not the supervisor's fault. */
/** A canary as workers receive it. */
export type CanarySpec = { config: ResolvedService; bundle: BundleRef; percent: number; sticky: CanarySticky | null };

function tell(w: Worker, msg: ToWorker): void {
  // With a callback, a send that fails reports there instead of as an 'error' event on the
  // worker; the worker's exit handler does the cleaning up.
  if (w.isConnected()) w.send(msg, () => undefined);
}

// .ts in a checkout, .js in the published package (dist/).
const WORKER_MAIN = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./worker-main.ts" : "./worker-main.js", import.meta.url));

/** What the supervisor last asked every worker to load. */
interface LoadSpec {
  stack: ResolvedStack;
  bundles: BundleRef[];
  secrets: [string, string][];
}

/** A worker started, loaded (with what it reported) and listening. */
interface Spawned {
  worker: Worker;
  load: LoadSpec | null;
  outcomes: LoadOutcome[] | null;
  port: number;
}

/** A worker's reply to a load, or the reason it gave none. */
type LoadReply = { outcomes: LoadOutcome[] } | { failed: string } | null;

/** Every service failed with `reason` (a worker could not load the stack at all). */
function allFailed(stack: ResolvedStack, reason: string): LoadOutcome[] {
  return stack.services.map((s) => ({ service: s.name, status: "failed", error: { code: "STRATUS_E_DEPLOY_FAILED", message: reason } }));
}

/**
 * One outcome per service from every worker's report: a service failed if it failed in any
 * worker (the first such reason); it was deployed if any worker deployed it (a replacement worker
 * loads everything fresh); removals are the union.
 */
export function mergeOutcomes(reports: readonly LoadOutcome[][]): LoadOutcome[] {
  const byService = new Map<string, LoadOutcome>();
  for (const report of reports) {
    for (const o of report) {
      const seen = byService.get(o.service);
      if (!seen || (seen.status !== "failed" && (o.status === "failed" || (o.status === "deployed" && seen.status === "unchanged"))))
        byService.set(o.service, o);
    }
  }
  return [...byService.values()];
}

/** Options of ClusterWorkers. */
export interface ClusterOptions {
  count: number;
  /** Where the workers' state and events live; sent to each worker as it is (STRATUS_BACKENDS). */
  backends: Backends;
  /** Keep each worker's recent log lines for logs() (stratus start). */
  logBuffer?: boolean;
  json: boolean;
  /** Log level of the workers (default "info"). */
  logLevel?: string;
  /** A worker whose resident memory passes this many MB is replaced gracefully (default 1536). */
  maxWorkerRssMb?: number;
  logger: Logger;
}

export class ClusterWorkers implements Workers {
  readonly #opts: ClusterOptions;
  readonly #workers = new Set<Worker>();
  /** Where workers listen: the port asked for, and the one the first worker bound. */
  #listen: { port: number; host: string; bound: number } | null = null;
  #lastLoad: LoadSpec | null = null;
  /** The replacement being started for a worker that died (a load waits for it to confirm). */
  readonly #replacements = new Map<Worker, Promise<Spawned>>();
  /** Workers that left on purpose (recycled): a load they did not answer needs no answer. */
  readonly #retired = new WeakSet<Worker>();
  /** Workers that accept connections. */
  readonly #serving = new WeakSet<Worker>();
  readonly #canaries = new Map<string, CanarySpec>();
  #seq = 0;
  #stopping = false;
  #deaths: number[] = [];
  /** The node-wide instance budget: scale.max per service, and what each worker holds of it. */
  readonly #budget = new Map<string, number>();
  readonly #held = new Map<string, Map<Worker, number>>();
  readonly #wanting = new Map<string, Set<Worker>>();
  readonly #recycling = new Set<Worker>();
  /** Each worker's latest CPU report (runtime/fairness.ts), with when it came. */
  readonly #cpu = new Map<Worker, { report: CpuReport; at: number }>();

  constructor(opts: ClusterOptions) {
    this.#opts = opts;
    // Workers accept on the shared socket themselves (not through the primary): the primary
    // stays off the request path, and a worker that dies takes only its own connections along.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: WORKER_MAIN, execArgv: ["--no-node-snapshot", "--disable-warning=ExperimentalWarning"] });
  }

  #ask<T extends FromWorker>(w: Worker, msg: ToWorker): Promise<T> {
    return new Promise((resolve, reject) => {
      const onMsg = (m: FromWorker): void => {
        if (m.seq !== msg.seq) return;
        cleanup();
        if (m.type === "failed") reject(m.code ? new StratusError(m.code as ErrorCode, m.message) : new Error(m.message));
        else resolve(m as T);
      };
      const onExit = (): void => {
        cleanup();
        reject(Object.assign(new Error(`worker ${w.process.pid} exited`), { exited: true }));
      };
      const cleanup = (): void => {
        w.off("message", onMsg);
        w.off("exit", onExit);
      };
      w.on("message", onMsg);
      w.on("exit", onExit);
      w.send(msg);
    });
  }

  #env(): Record<string, string> {
    return {
      STRATUS_WORKER: "1",
      STRATUS_BACKENDS: encodeBackends(this.#opts.backends),
      STRATUS_LOG_BUFFER: this.#opts.logBuffer ? "1" : "0",
      STRATUS_LOG_JSON: this.#opts.json ? "1" : "0",
      STRATUS_LOG_LEVEL: this.#opts.logLevel ?? "info",
      STRATUS_MAX_RSS_MB: String(this.#opts.maxWorkerRssMb ?? 1536),
    };
  }

  /**
   * Starts a worker: it loads the current stack and canaries first, and only then listens (once
   * listen() was called), so it never takes a connection it cannot serve. Rejects when the worker
   * dies on the way.
   */
  async #spawn(): Promise<Spawned> {
    const w = cluster.fork(this.#env());
    this.#workers.add(w);
    this.#track(w);
    await new Promise<void>((resolve, reject) => {
      const onExit = (): void => reject(new Error(`worker ${w.process.pid} exited before it was online`));
      w.once("exit", onExit);
      w.once("online", () => {
        w.off("exit", onExit);
        resolve();
      });
    });
    const load = this.#lastLoad;
    const loaded = load ? await this.#ask<{ type: "loaded"; outcomes: LoadOutcome[]; seq: number }>(w, { type: "load", ...load, seq: ++this.#seq }) : null;
    for (const [service, canary] of this.#canaries) await this.#ask(w, { type: "canary", service, canary, seq: ++this.#seq });
    const port = this.#listen ? await this.#start(w, this.#listen) : 0;
    return { worker: w, load, outcomes: loaded?.outcomes ?? null, port };
  }

  /** Tells a loaded worker to accept connections; resolves with the port it bound. */
  async #start(w: Worker, l: { port: number; host: string; bound: number }): Promise<number> {
    // node:cluster shares one listening handle per requested (host, port) while any worker holds
    // it: ask as the others did. Once every worker is gone the handle is closed, and asking for
    // port 0 again would bind a new port: ask for the one clients know.
    const shared = [...this.#workers].some((x) => x !== w && this.#serving.has(x));
    const port = shared || l.bound === 0 ? l.port : l.bound;
    const got = await this.#ask<{ type: "listening"; port: number; seq: number }>(w, { type: "start", port, host: l.host, seq: ++this.#seq });
    this.#serving.add(w);
    return got.port;
  }

  #heldBy(service: string): Map<Worker, number> {
    let h = this.#held.get(service);
    if (!h) {
      h = new Map();
      this.#held.set(service, h);
    }
    return h;
  }

  /** A worker asks to start an instance of `service`: granted while the node is under scale.max. */
  #take(w: Worker, service: string, id: number): void {
    const held = this.#heldBy(service);
    const total = [...held.values()].reduce((a, b) => a + b, 0);
    const ok = total < (this.#budget.get(service) ?? Infinity);
    if (ok) held.set(w, (held.get(w) ?? 0) + 1);
    else {
      let wanting = this.#wanting.get(service);
      if (!wanting) this.#wanting.set(service, (wanting = new Set()));
      wanting.add(w);
      // Ask the worker holding the most to give an instance back as soon as one is idle, when the
      // asker has none or the two differ by two or more. Nearer balance stays as it is: giving
      // back on every idle moment would rebuild isolates back and forth under load.
      const mine = held.get(w) ?? 0;
      let top: Worker | null = null;
      for (const [holder, n] of held) if (holder !== w && (top === null || n > held.get(top)!)) top = holder;
      if (top && (mine === 0 || held.get(top)! >= mine + 2)) tell(top, { type: "reclaim", service, seq: 0 });
    }
    tell(w, { type: "grant", id, ok, seq: 0 });
  }

  #give(w: Worker, service: string): void {
    const held = this.#heldBy(service);
    const n = (held.get(w) ?? 0) - 1;
    if (n > 0) held.set(w, n);
    else held.delete(w);
    this.#announce(service);
  }

  /** Tells the workers that were refused `service`'s budget that there is room again. */
  #announce(service: string): void {
    const wanting = this.#wanting.get(service);
    if (!wanting) return;
    this.#wanting.delete(service);
    for (const x of wanting) if (this.#workers.has(x)) tell(x, { type: "available", service, seq: 0 });
  }

  /**
   * A worker's CPU over its last window: it gets back the sum of the other workers' latest, so
   * CPU-fair admission judges on the whole node (runtime/fairness.ts). A report older than a
   * second (a worker stuck or gone) no longer counts.
   */
  #shareCpu(w: Worker, report: CpuReport): void {
    const now = Date.now();
    this.#cpu.set(w, { report, at: now });
    const others: CpuReport[] = [];
    for (const [x, r] of this.#cpu) if (x !== w && now - r.at < 1000) others.push(r.report);
    tell(w, { type: "cpu", others: sumReports(others), seq: 0 });
  }

  /** Watches a worker for its request to be recycled (its memory guard tripped). */
  #track(w: Worker): void {
    w.on("exit", (code, signal) => this.#exited(w, code, signal));
    // A send to a worker that just died reports here; its exit handler does the rest.
    w.on("error", () => undefined);
    w.on("message", (m: FromWorker) => {
      if (m.type === "recycle") void this.#recycle(w, m.rssMb);
      else if (m.type === "take") this.#take(w, m.service, m.id);
      else if (m.type === "give") this.#give(w, m.service);
      else if (m.type === "cpu") this.#shareCpu(w, m.report);
    });
  }

  /**
   * Replaces a worker gracefully: the replacement starts first, so capacity never drops, then the
   * old one finishes its in-flight requests and exits.
   */
  async #recycle(w: Worker, rssMb: number): Promise<void> {
    if (this.#recycling.has(w) || this.#stopping) return;
    this.#recycling.add(w);
    this.#opts.logger.warn(
      { pid: w.process.pid, rssMb: Math.round(rssMb) },
      `worker process ${w.process.pid} uses ${Math.round(rssMb)} MB, over the ${this.#opts.maxWorkerRssMb ?? 1536} MB guard; starting a replacement, then retiring it after its in-flight requests`,
    );
    try {
      await this.#spawn();
    } catch (err) {
      // The replacement died on the way (its own exit starts another) or the node is stopping.
      if (!this.#stopping) this.#opts.logger.error({ err: String(err) }, "the replacement for a recycled worker failed to start; another is starting");
    } finally {
      tell(w, { type: "stop", seq: ++this.#seq });
    }
  }

  #exited(w: Worker, code: number | null, signal: string | null): void {
    this.#workers.delete(w);
    this.#cpu.delete(w);
    // Whatever budget it held is free again.
    for (const [service, held] of this.#held) {
      if (held.delete(w)) this.#announce(service);
    }
    for (const wanting of this.#wanting.values()) wanting.delete(w);
    if (this.#stopping) return;
    if (this.#recycling.delete(w)) {
      this.#retired.add(w);
      return;
    }
    const now = Date.now();
    this.#deaths = [...this.#deaths.filter((t) => now - t < 10_000), now];
    const delay = this.#deaths.length > 5 ? 1000 : 0;
    this.#opts.logger.error(
      { pid: w.process.pid, code, signal },
      `worker process ${w.process.pid} died (${signal ?? `exit code ${code}`}); the other workers keep serving and a replacement is starting${delay ? " in 1 s (it keeps dying)" : ""}. A service that exhausts memory can cause this: check the lines above for its name`,
    );
    const replacement = new Promise<Spawned>((resolve, reject) => {
      setTimeout(() => {
        if (this.#stopping) reject(new Error("the node is stopping"));
        else this.#spawn().then(resolve, reject);
      }, delay).unref();
    });
    this.#replacements.set(w, replacement);
    replacement
      .catch((err: unknown) => {
        if (!this.#stopping) this.#opts.logger.error({ err: String(err) }, "replacement worker failed to start");
      })
      .finally(() => this.#replacements.delete(w));
  }

  async listen(port: number, host: string): Promise<number> {
    // The first worker binds the port; the others share its handle (see #start). Workers started
    // by an earlier load() start listening now.
    this.#listen = { port, host, bound: 0 };
    const [first, ...rest] = [...this.#workers].filter((w) => !this.#serving.has(w));
    const bound = first ? await this.#start(first, this.#listen) : (await this.#spawn()).port;
    this.#listen = { port, host, bound };
    await Promise.all(rest.map((w) => this.#start(w, this.#listen!)));
    const missing = this.#opts.count - this.#workers.size;
    await Promise.all(Array.from({ length: missing }, () => this.#spawn()));
    return bound;
  }

  /**
   * Loads a stack into every worker and resolves once each has confirmed, with one outcome per
   * service merged from all of them (a service that failed in any worker failed). A worker that
   * dies before confirming is replaced, and the replacement's load counts in its place; a worker
   * that cannot load at all (or whose replacement cannot start) fails every service with the
   * reason, so an all-or-nothing apply goes back.
   */
  async load(stack: ResolvedStack, bundles: readonly BundleRef[], secrets: ReadonlyMap<string, string> = new Map()): Promise<LoadOutcome[]> {
    // Secret values go to the workers over the IPC channel only, never through the environment.
    const spec: LoadSpec = { stack, bundles: [...bundles], secrets: [...secrets] };
    this.#lastLoad = spec;
    this.#budget.clear();
    for (const s of stack.services) this.#budget.set(s.name, s.scale.max);
    if (this.#workers.size === 0 && !this.#stopping) {
      // The first load, before listen(): start the workers with it, so their reports count too.
      const started = await Promise.allSettled(Array.from({ length: this.#opts.count }, () => this.#spawn()));
      const reports = started.flatMap((r) => (r.status === "fulfilled" && r.value.outcomes ? [r.value.outcomes] : []));
      if (reports.length === this.#opts.count) return mergeOutcomes(reports);
      // A worker died while starting: its replacement loads the stack; ask every live worker.
    }
    const replies = await Promise.all([...this.#workers].map((w) => this.#loadInto(w, spec)));
    const reports: LoadOutcome[][] = [];
    for (const r of replies) {
      if (r === null) continue;
      reports.push("failed" in r ? allFailed(stack, r.failed) : r.outcomes);
    }
    if (reports.length === 0 && stack.services.length > 0)
      return allFailed(stack, "no worker process confirmed the load (every one exited); see the log for why");
    return mergeOutcomes(reports);
  }

  /** Loads `spec` into `w`, or into the replacement of `w` when it dies first. */
  async #loadInto(w: Worker, spec: LoadSpec, deaths = 0): Promise<LoadReply> {
    try {
      const r = await this.#ask<{ type: "loaded"; outcomes: LoadOutcome[]; seq: number }>(w, { type: "load", ...spec, seq: ++this.#seq });
      return { outcomes: r.outcomes };
    } catch (err) {
      const pid = w.process.pid;
      // Alive and answering "failed": the load itself threw in the worker.
      if ((err as { exited?: boolean }).exited !== true) return { failed: `worker process ${pid} could not load the stack: ${(err as Error).message}` };
      // It left on purpose: a recycled worker's replacement loads the latest stack itself.
      if (this.#stopping || this.#retired.has(w)) return null;
      const replacement = this.#replacements.get(w);
      if (!replacement) return { failed: `worker process ${pid} exited during the load` };
      let spawned: Spawned;
      try {
        spawned = await replacement;
      } catch (e) {
        return { failed: `worker process ${pid} exited during the load and its replacement did not start: ${(e as Error).message}` };
      }
      if (spawned.load === spec && spawned.outcomes) return { outcomes: spawned.outcomes };
      if (deaths >= 3) return { failed: `worker processes keep exiting during the load (${deaths + 1} in a row); see the log for why` };
      return this.#loadInto(spawned.worker, spec, deaths + 1);
    }
  }

  /** Starts or ends a canary in every worker; a worker's failure is thrown. */
  async canary(service: string, canary: CanarySpec | null): Promise<void> {
    if (canary === null) this.#canaries.delete(service);
    else this.#canaries.set(service, canary);
    await Promise.all([...this.#workers].map((w) => this.#ask(w, { type: "canary", service, canary, seq: ++this.#seq })));
  }

  /** Recent log records of every worker, oldest first (the last `limit`). */
  async logs(opts: { since?: number; service?: string; limit?: number }): Promise<Record<string, unknown>[]> {
    const replies = await Promise.all(
      [...this.#workers].map((w) =>
        this.#ask<{ type: "logs"; lines: Record<string, unknown>[]; seq: number }>(w, { type: "logs", ...opts, seq: ++this.#seq }).catch(() => null),
      ),
    );
    const all = replies.flatMap((r) => r?.lines ?? []).sort((a, b) => Number(a["time"] ?? 0) - Number(b["time"] ?? 0));
    return opts.limit !== undefined ? all.slice(-opts.limit) : all;
  }

  /** Every worker's metrics, summed. */
  async metrics(): Promise<Registry> {
    const replies = await Promise.all(
      [...this.#workers].map((w) =>
        this.#ask<{ type: "metrics"; metrics: MetricsJson; seq: number }>(w, { type: "metrics", seq: ++this.#seq }).catch(() => null),
      ),
    );
    return aggregateMetrics(replies.flatMap((r) => (r ? [r.metrics] : [])));
  }

  /** Process ids of the live workers. */
  pids(): number[] {
    return [...this.#workers].map((w) => w.process.pid!).filter(Boolean);
  }

  async close(): Promise<void> {
    this.#stopping = true;
    await Promise.all(
      [...this.#workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => w.kill("SIGKILL"), 15_000).unref();
            w.once("exit", () => {
              clearTimeout(t);
              resolve();
            });
            // One still starting serves no one and may not listen for messages yet: end it now.
            if (!this.#serving.has(w)) w.process.kill("SIGTERM");
            else tell(w, { type: "stop", seq: ++this.#seq });
          }),
      ),
    );
  }
}
