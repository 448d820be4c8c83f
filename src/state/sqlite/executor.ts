/**
 * Runs a service's SQL in a child process of its own, where a runaway statement can be stopped.
 * node:sqlite is synchronous and native: a statement that never ends (a recursive CTE) cannot be
 * interrupted on the thread that runs it, and worker.terminate() waits for it. A process can be
 * killed. So each service gets, per worker process, one executor process, started on its first
 * SQL call and stopped when idle. Calls are sent one at a time; when one outlives the service's
 * limits.timeout the process is killed with SIGKILL, that call fails with STRATUS_E_SQL_TIMEOUT,
 * and the next call starts a fresh process. Other services have their own executors: they never
 * wait behind it, and the worker's own thread never runs SQL.
 */
import { fork, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ErrorCode } from "../../errors/index.ts";
import { StratusError } from "../../errors/index.ts";
import type { SqlMode, SqlValue } from "../interface.ts";
import type { Quota } from "./quota.ts";

/** One call to the executor process. */
export type ExecRequest = { id: number; file: string; quota: Quota | null; heapBytes: number } & (
  | { op: "query"; args: [string, readonly SqlValue[], SqlMode] }
  | { op: "batch"; args: [readonly (readonly [string, readonly SqlValue[]])[]] }
  | { op: "exec"; args: [string] }
);

/** Its answer. */
export type ExecReply = { id: number; ok: true; value: unknown } | { id: number; ok: false; code: string; message: string };

/** What a call needs besides the statement. */
export interface ExecLimits {
  timeoutMs: number;
  quota: Quota | null;
}

type Pending = { req: ExecRequest; timeoutMs: number; resolve: (v: unknown) => void; reject: (e: Error) => void };

// .ts in a checkout, .js in the published package (dist/).
const MAIN = fileURLToPath(new URL(import.meta.url.endsWith(".ts") ? "./executor-main.ts" : "./executor-main.js", import.meta.url));
/** An executor with nothing to do for this long exits (and is started again on demand). */
const IDLE_MS = 60_000;
/** Longest an executor process may take to start (a very busy machine takes seconds). */
const START_MS = 30_000;

/**
 * One started executor process kept spare per worker process, from the first SQL call on:
 * starting one takes a few hundred milliseconds, which a service's first call (or the call after
 * a kill) should not wait for.
 */
let spare: ChildProcess | null = null;
const spareReady = new WeakSet<ChildProcess>();

function startProcess(): ChildProcess {
  // A small JS heap: results are bounded (engine.ts MAX_RESULT_BYTES); past it the process dies
  // alone instead of growing the machine's memory.
  const child = fork(MAIN, [], { execArgv: ["--max-old-space-size=512"], serialization: "advanced", stdio: ["ignore", "ignore", "inherit", "ipc"] });
  child.on("message", (m: unknown) => {
    if (m === "ready") spareReady.add(child);
  });
  child.on("error", () => undefined);
  // A spare or idle executor must not keep the worker process alive.
  child.channel?.unref();
  child.unref();
  return child;
}

function takeSpare(): ChildProcess {
  let child = spare;
  spare = null;
  if (!child || child.exitCode !== null || child.signalCode !== null || !child.connected) child = startProcess();
  setImmediate(() => (spare ??= startProcess()));
  return child;
}

/** SqlExecutor: the executor process of one service, and the queue of its calls. */
export class SqlExecutor {
  readonly #service: string;
  readonly #heapBytes: () => number;
  #child: ChildProcess | null = null;
  readonly #ready = new WeakSet<ChildProcess>();
  /** The process the current call was sent to. */
  #sentTo: ChildProcess | null = null;
  #queue: Pending[] = [];
  #current: Pending | null = null;
  #timer: NodeJS.Timeout | null = null;
  #idle: NodeJS.Timeout | null = null;
  #seq = 0;
  #closed = false;

  /** `heapBytes`: the SQLite heap the process may use (read at each call: a deploy may change it). */
  constructor(service: string, heapBytes: () => number) {
    this.#service = service;
    this.#heapBytes = heapBytes;
  }

  /** Runs `op` on `file` in the executor; rejects with a coded error. */
  call<T>(file: string, op: ExecRequest["op"], args: ExecRequest["args"], limits: ExecLimits): Promise<T> {
    if (this.#closed) return Promise.reject(new StratusError("STRATUS_E_SQL", `SQL: the state of service "${this.#service}" is closed`));
    return new Promise<T>((resolve, reject) => {
      const req = { id: ++this.#seq, file, quota: limits.quota, heapBytes: this.#heapBytes(), op, args } as ExecRequest;
      this.#queue.push({ req, timeoutMs: limits.timeoutMs, resolve: resolve as (v: unknown) => void, reject });
      this.#next();
    });
  }

  #next(): void {
    if (this.#current || this.#closed) return;
    const p = this.#queue.shift();
    if (!p) {
      this.#idle ??= setTimeout(() => this.#stop(), IDLE_MS).unref();
      return;
    }
    if (this.#idle) {
      clearTimeout(this.#idle);
      this.#idle = null;
    }
    this.#current = p;
    const child = this.#spawn();
    this.#sentTo = child;
    // While a call is in flight the process must keep this one alive (a script awaiting SQL).
    child.channel?.ref();
    if (this.#ready.has(child)) this.#send(child, p);
    // Else it is sent on the child's "ready": starting a process is not the statement's time,
    // but a process that never starts must not hold the call forever either.
    else this.#timer = setTimeout(() => this.#startFailed(p), START_MS);
  }

  #startFailed(p: Pending): void {
    if (this.#current !== p) return;
    this.#kill();
    this.#finish(p, () =>
      p.reject(new StratusError("STRATUS_E_SQL", `SQL: the executor of service "${this.#service}" did not start within ${START_MS / 1000}s; retry`)),
    );
  }

  #send(child: ChildProcess, p: Pending): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#timedOut(p), p.timeoutMs);
    try {
      child.send(p.req);
    } catch (err) {
      this.#finish(p, () => p.reject(new StratusError("STRATUS_E_SQL", `SQL: could not reach the executor: ${(err as Error).message}`)));
      this.#kill();
    }
  }

  #spawn(): ChildProcess {
    if (this.#child) return this.#child;
    const child = takeSpare();
    if (spareReady.has(child)) this.#ready.add(child);
    child.removeAllListeners("message");
    child.on("message", (m: ExecReply | "ready") => {
      if (m === "ready") {
        this.#ready.add(child);
        if (this.#current && this.#sentTo === child) this.#send(child, this.#current);
        return;
      }
      const p = this.#current;
      if (!p || m.id !== p.req.id) return;
      this.#finish(p, () => (m.ok ? p.resolve(m.value) : p.reject(new StratusError(m.code as ErrorCode, m.message))));
    });
    child.on("exit", (code, signal) => {
      if (this.#child === child) this.#child = null;
      const p = this.#current;
      // Only a call that was running on this very process fails; a killed process has none.
      if (!p || this.#sentTo !== child) return;
      this.#finish(p, () =>
        p.reject(
          new StratusError(
            "STRATUS_E_SQL",
            `SQL: the executor of service "${this.#service}" stopped (${signal ?? `exit code ${code}`}) while running the statement; it is restarted for the next call`,
          ),
        ),
      );
    });
    this.#child = child;
    return child;
  }

  #finish(p: Pending, settle: () => void): void {
    if (this.#current !== p) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#current = null;
    this.#sentTo?.channel?.unref();
    this.#sentTo = null;
    settle();
    this.#next();
  }

  #timedOut(p: Pending): void {
    if (this.#current !== p) return;
    this.#kill();
    this.#finish(p, () =>
      p.reject(
        new StratusError(
          "STRATUS_E_SQL_TIMEOUT",
          `SQL: the statement ran longer than limits.timeout (${p.timeoutMs}ms) of service "${this.#service}" and was stopped; nothing it wrote was kept. ` +
            `Bound the query (LIMIT, an index, a WHERE on a recursive CTE) or raise services.${this.#service}.limits.timeout in stratus.yaml`,
        ),
      ),
    );
  }

  #kill(): void {
    const c = this.#child;
    this.#child = null;
    if (c && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  }

  /** Graceful stop when idle: the process closes its files and exits. */
  #stop(): void {
    this.#idle = null;
    const c = this.#child;
    if (!c || this.#current) return;
    this.#child = null;
    if (c.connected) c.disconnect();
  }

  /** Fails queued calls and stops the process. */
  close(): void {
    this.#closed = true;
    if (this.#idle) clearTimeout(this.#idle);
    if (this.#timer) clearTimeout(this.#timer);
    const err = new StratusError("STRATUS_E_SQL", `SQL: the state of service "${this.#service}" was closed`);
    const busy = this.#current !== null;
    for (const p of [...this.#queue, ...(this.#current ? [this.#current] : [])]) p.reject(err);
    this.#queue = [];
    this.#current = null;
    const c = this.#child;
    this.#child = null;
    if (!c) return;
    // A running statement would keep the process from seeing the disconnect until it ends.
    if (busy && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    else if (c.connected) c.disconnect();
  }
}
