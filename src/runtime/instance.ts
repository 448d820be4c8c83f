/**
 * One instance of a function: a V8 isolate with the prelude, the service's bindings and its
 * bundle loaded. A request crosses into the isolate once (method, url, headers, body) and its
 * response crosses out once; only real I/O calls back to the host.
 *
 * The host never calls into an isolate synchronously once user code is in it: a synchronous call
 * runs on this thread (with the isolate's microtasks), where the watchdog lives. Every call runs
 * on the isolate's own thread, and the watchdog keeps an eye on the isolate while it uses CPU,
 * even after its last request finished. What comes out is decoded by protocol.ts as hostile input.
 */
import { randomFillSync } from "node:crypto";
import ivm from "isolated-vm";
import type { ResolvedService } from "../config/index.ts";
import { ERROR_CODES, StratusError, type ErrorCode } from "../errors/index.ts";
import { ConsoleLimiter } from "../telemetry/index.ts";
import { lazyModuleSource, preludeScript, preludeSnapshot } from "./prelude-build.ts";
import { decodeChunk, decodeFrames, decodeReply, decodeTask, encodeRequest, isViolation, type Violation } from "./protocol.ts";

/** A request as the runtime receives it. */
export interface InvokeRequest {
  readonly method: string;
  /** Absolute URL. */
  readonly url: string;
  /** Flat [name, value, ...] with lowercase names. */
  readonly headers: readonly string[];
  readonly body: Uint8Array | null;
  readonly requestId: string;
  /** Path parameters the gateway's route matched (ctx.params in the function). */
  readonly params?: Readonly<Record<string, string>>;
  /** How many service calls deep this request is (0 or absent: it came from a client). */
  readonly depth?: number;
  /**
   * When the request at the root of a service-call chain must be answered (performance.now()
   * milliseconds): a call made on its behalf never runs past it, whatever the callee's own limits.
   */
  readonly deadline?: number;
}

/** Who an I/O call was made for: the depth and deadline of the request (or task) it serves. */
export interface CallContext {
  /** Service calls between the client's request and this one (0: the client's own request). */
  readonly depth: number;
  /** The root request's deadline (performance.now() milliseconds). */
  readonly deadline: number;
}

/** A response as the runtime returns it. */
export interface InvokeResult {
  status: number;
  statusText: string;
  headers: string[];
  /** The whole body, when the function gave one up front. */
  body: string | Uint8Array | null;
  /** The body as chunks, when the function returned a stream. */
  stream: AsyncIterable<Uint8Array> | null;
  /** Set when the invocation failed; status and body then describe the error. */
  error: { code: ErrorCode; message: string } | null;
}

/** The outcome of one unit of task work (one event, one cron run). */
export interface TaskOutcome {
  ok: boolean;
  code?: string;
  message?: string;
  /** The function signalled a permanent failure (no retry). */
  permanent?: boolean;
  /** The instance died or missed the deadline: the whole batch failed together. */
  batch?: boolean;
}

/** What an instance needs from the node: I/O for its bindings and a place for its logs. */
export interface InstanceHost {
  /**
   * Runs an I/O call. `requestIds` holds exactly the id of the request that made it when the
   * isolate could tell (see prelude.ts `current`), else every request in flight on the instance.
   * `call` is that request's depth and deadline (the deepest and earliest of the candidates when
   * it could not tell); null when the call serves no live request (its request is over, or none
   * is in flight): work a finished request left behind.
   */
  io(op: string, args: unknown[], requestIds: ReadonlySet<string>, call: CallContext | null): Promise<unknown>;
  /**
   * A console line; `requestIds` as for io(), except that a line from work a finished request left
   * behind names that request (while the instance remembers it) rather than every request in flight.
   */
  log(level: string, text: string, requestIds: ReadonlySet<string>): void;
  /** The value of a secret the service is granted, if the node has it. */
  secret?(name: string): string | undefined;
}

/** A compiled bundle shared by all instances of one service version (code cache included). */
export interface LoadedCode {
  readonly code: string;
  readonly hash: string;
  cachedData?: ivm.ExternalCopy<ArrayBuffer>;
  /** Set while the first instance compiles the bundle without a code cache (the others wait for its cache). */
  compiling?: Promise<unknown>;
}

/** An isolate with the prelude in it, not yet given to any service. */
export interface BlankIsolate {
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  readonly memoryMb: number;
}

/** Makes a blank isolate: from the prelude snapshot when V8 could make one. */
export function createBlankIsolate(memoryMb: number): BlankIsolate {
  const snapshot = preludeSnapshot();
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb, ...(snapshot ? { snapshot } : {}) });
  const context = isolate.createContextSync();
  if (!snapshot) isolate.compileScriptSync(preludeScript(), { filename: "stratus:prelude" }).runSync(context);
  return { isolate, context, memoryMb };
}

/**
 * Makes a blank isolate as createBlankIsolate does, with the context made on the isolate's own
 * thread: only the isolate's constructor blocks this one (spares are made this way, between requests).
 */
export async function makeBlankIsolate(memoryMb: number): Promise<BlankIsolate> {
  const snapshot = preludeSnapshot();
  const isolate = new ivm.Isolate({ memoryLimit: memoryMb, ...(snapshot ? { snapshot } : {}) });
  try {
    const context = await isolate.createContext();
    if (!snapshot) await (await isolate.compileScript(preludeScript(), { filename: "stratus:prelude" })).run(context);
    return { isolate, context, memoryMb };
  } catch (err) {
    isolate.dispose();
    throw err;
  }
}

const DONE: Promise<void> = Promise.resolve();
const COPY = { arguments: { copy: true }, result: { promise: true, copy: true } } as const;

/** The busy instances the watchdog looks at (CPU time, deadlines, heap-limit disposal). */
const busy = new Set<Instance>();
let watchdog: NodeJS.Timeout | null = null;
const WATCH_MS = 10;
/** Finished requests an instance remembers, to name them on the console lines of work they left behind. */
const RECENT = 256;

function watch(): void {
  for (const inst of busy) inst.enforceLimits();
  if (busy.size === 0 && watchdog) {
    clearInterval(watchdog);
    watchdog = null;
  }
}

/** One isolate serving one service version. */
export class Instance {
  readonly service: ResolvedService;
  readonly isolate: ivm.Isolate;
  readonly context: ivm.Context;
  /** In-flight invocations. */
  active = 0;
  /** Slots the pool has handed out (a lease is taken before invoke() and given back after `done`). */
  leased = 0;
  /** When the pool last saw this instance become idle (on the pool's clock). */
  idleSince = 0;
  /** Set once the instance was killed or disposed. */
  dead: ErrorCode | "disposed" | null = null;
  readonly requestIds = new Set<string>();
  /** Request ids (with their call context) by the numeric id the isolate knows them by. */
  readonly #rids = new Map<number, { requestId: string; call: CallContext }>();
  /** Finished requests' ids by numeric id, oldest first (at most RECENT; see #logIdsFor). */
  readonly #recent = new Map<number, string>();
  /** The isolate's CPU time at the last watchdog look while nothing was in flight (-1: not looked yet). */
  #idleCpu = -1n;
  /** What was wrong with a reply that made the instance unreadable (dead = STRATUS_E_BAD_RESPONSE). */
  #deathDetail = "";
  readonly #api: {
    init: ivm.Reference;
    load: ivm.Reference;
    batch: ivm.Reference;
    one: ivm.Reference;
    pull: ivm.Reference;
    cancel: ivm.Reference;
    settle: ivm.Reference;
    fire: ivm.Reference;
    task: ivm.Reference;
  };
  /** This instance's console budget (lines and characters per second, line length). */
  readonly #console = new ConsoleLimiter();
  /** Logs the note on dropped console lines, if any (set by #wire). */
  #noteDrops: () => void = () => undefined;
  /** The host side of the prelude's timers: one wake-up at the earliest due time. */
  #wake: NodeJS.Timeout | null = null;
  /** The prelude may hold timers (set by the timer callback, cleared when they are dropped at idle). */
  #timersArmed = false;
  /** Invocations sent into the isolate and not yet answered, by id. */
  readonly #waiting = new Map<number, { resolve: (reply: string, bodies: unknown) => void; reject: (err: unknown) => void; deadline: number }>();
  #nextId = 1;
  #outbox: string[] = [];
  #flushQueued = false;
  /** A batch is in the isolate and has not been taken yet (see #flush). */
  #sending = false;
  /** CPU time of the isolate when the current CPU window began (see enforceLimits). */
  #cpuStart = 0n;
  /** The watchdog saw the CPU limit passed without progress once; a second look kills. */
  #overCpu = false;
  /** Set when a request finished since the watchdog last looked. */
  #progressed = false;
  readonly #cpuLimitNs: bigint;
  readonly #onDeath: (inst: Instance, code: ErrorCode) => void;

  private constructor(service: ResolvedService, blank: BlankIsolate, onDeath: (inst: Instance, code: ErrorCode) => void) {
    this.service = service;
    this.isolate = blank.isolate;
    this.context = blank.context;
    this.#cpuLimitNs = BigInt(service.limits.cpuMs) * 1_000_000n;
    this.#onDeath = onDeath;
    const api = this.context.global.getSync("__stratus", { reference: true });
    const get = (name: string): ivm.Reference => api.getSync(name, { reference: true });
    // Taken before any user code runs: afterwards the global is the function's to rewrite.
    this.#api = {
      init: get("init"),
      load: get("load"),
      batch: get("dispatchBatch"),
      one: get("dispatchOne"),
      pull: get("pull"),
      cancel: get("cancel"),
      settle: get("settle"),
      fire: get("fire"),
      task: get("dispatchTask"),
    };
  }

  /**
   * Loads `code` into `blank` (or a new isolate) and runs its top level. Throws STRATUS_E_NO_HANDLER
   * when the module has no fetch handler, STRATUS_E_HANDLER_THREW when its top level throws.
   */
  static async create(
    service: ResolvedService,
    code: LoadedCode,
    host: InstanceHost,
    onDeath: (inst: Instance, code: ErrorCode) => void,
    blank?: BlankIsolate,
  ): Promise<Instance> {
    if (blank && blank.memoryMb !== service.limits.memoryMb) blank.isolate.dispose();
    const b = blank && blank.memoryMb === service.limits.memoryMb ? blank : createBlankIsolate(service.limits.memoryMb);
    const inst = new Instance(service, b, onDeath);
    // Wall time for the calls that load the code (the watchdog is not watching yet).
    const timeout = Math.max(1, service.limits.cpuMs);
    try {
      inst.#wire(host, timeout);
      // Compiled on the isolate's own thread: a big bundle must not stall this thread's event loop
      // (every other service in the process) while V8 parses it. Concurrent cold starts of one
      // version wait for the first compile and use its code cache instead of each compiling in full.
      if (!code.cachedData && code.compiling) await code.compiling.catch(() => undefined);
      const filename = `stratus:${service.name}.js`;
      let script: ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> };
      if (code.cachedData) script = await b.isolate.compileScript(code.code, { filename, cachedData: code.cachedData });
      else {
        const compiling = b.isolate.compileScript(code.code, { filename, produceCachedData: true });
        code.compiling = compiling;
        try {
          script = await compiling;
        } finally {
          if (code.compiling === compiling) delete code.compiling;
        }
        if (!code.cachedData && script.cachedData) code.cachedData = script.cachedData;
      }
      await script.run(b.context, { timeout });
      const needs = [
        ...(service.routes.length > 0 ? ["fetch"] : []),
        ...(service.subscriptions.length > 0 ? ["event"] : []),
        ...(service.schedules.length > 0 ? ["scheduled"] : []),
      ];
      // load() reads the module's exports, which user code may have made getters.
      const problem: unknown = await inst.#api.load.apply(undefined, [needs], { arguments: { copy: true }, result: { copy: true }, timeout });
      if (problem !== null && typeof problem !== "string") throw new Error("load() returned something other than a string or null");
      if (problem) throw new StratusError("STRATUS_E_NO_HANDLER", `service "${service.name}" (${service.entryAsWritten}): ${problem}`);
    } catch (err) {
      inst.dispose();
      if (err instanceof StratusError) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      const code = /memory limit/i.test(msg) ? "STRATUS_E_MEMORY_LIMIT" : /timed out/i.test(msg) ? "STRATUS_E_CPU_LIMIT" : "STRATUS_E_HANDLER_THREW";
      throw new StratusError(code, `service "${service.name}" (${service.entryAsWritten}) failed while loading: ${msg}`, { cause: err });
    }
    return inst;
  }

  /**
   * The requests an I/O call or a console line belongs to: the one whose id the isolate passed, if
   * it is in flight here; otherwise every request in flight (a hostile or stale id claims nothing).
   */
  #idsFor(rid: unknown): ReadonlySet<string> {
    const id = typeof rid === "number" && rid > 0 ? this.#rids.get(rid)?.requestId : undefined;
    return id === undefined ? this.requestIds : new Set([id]);
  }

  /**
   * The requests a console line belongs to: as #idsFor, and a line from work a request left behind
   * after it was answered (a timer or promise chain it started) still names that request while the
   * instance remembers it (the last RECENT requests): it is that request's output, not anyone's in flight.
   */
  #logIdsFor(rid: unknown): ReadonlySet<string> {
    if (typeof rid !== "number" || rid <= 0) return this.requestIds;
    const id = this.#rids.get(rid)?.requestId ?? this.#recent.get(rid);
    return id === undefined ? this.requestIds : new Set([id]);
  }

  /** Remembers a finished request's id for the console lines of the work it left behind. */
  #forget(rid: number, requestId: string): void {
    this.#rids.delete(rid);
    this.#recent.set(rid, requestId);
    if (this.#recent.size > RECENT) this.#recent.delete(this.#recent.keys().next().value!);
  }

  /**
   * The call context of an I/O call: the request whose id the isolate passed; for an id of 0 (not
   * known), the deepest depth and earliest deadline of every request in flight (the limits must hold
   * whichever it was); null for the id of a request that is over, or with nothing in flight.
   */
  #callFor(rid: unknown): CallContext | null {
    if (typeof rid === "number" && rid > 0) return this.#rids.get(rid)?.call ?? null;
    let depth = -1;
    let deadline = Infinity;
    for (const r of this.#rids.values()) {
      depth = Math.max(depth, r.call.depth);
      deadline = Math.min(deadline, r.call.deadline);
    }
    return depth < 0 ? null : { depth, deadline };
  }

  /**
   * Hands the prelude its host callbacks, the wasm memory budget and the env descriptors in one
   * synchronous call (init), before any user code is in the isolate: one crossing, no turn of the
   * event loop. Only prelude code runs, so the call cannot stall this thread.
   */
  #wire(host: InstanceHost, timeout: number): void {
    // What the isolate logs is hostile input: cut to length and bounded in rate per instance (the
    // sandbox's console applies the same caps first; this holds even if it did not).
    this.#noteDrops = () => {
      const note = this.#console.flush();
      if (note !== null) host.log("warn", note, this.requestIds);
    };
    const log = new ivm.Callback(
      (level: unknown, text: unknown, rid: unknown) => {
        const line = this.#console.admit(typeof text === "string" ? text : String(text));
        if (line === null) return;
        this.#noteDrops();
        host.log(typeof level === "string" ? level.slice(0, 8) : "info", line, this.#logIdsFor(rid));
      },
      { ignored: true },
    );
    const io = new ivm.Reference(async (op: unknown, args: unknown, rid: unknown) => {
      try {
        if (typeof op !== "string" || !Array.isArray(args)) throw new StratusError("STRATUS_E_BAD_RESPONSE", "an I/O call from the isolate is malformed");
        return new ivm.ExternalCopy([null, await host.io(op, args, this.#idsFor(rid), this.#callFor(rid))]).copyInto({ release: true });
      } catch (err) {
        const e = err as { code?: string; message?: string };
        const code = typeof e.code === "string" && e.code.startsWith("STRATUS_E_") ? e.code : "STRATUS_E_INTERNAL";
        return new ivm.ExternalCopy([{ code, message: String(e.message ?? err) }, null]).copyInto({ release: true });
      }
    });
    const random = new ivm.Callback((n: number) =>
      new ivm.ExternalCopy(randomFillSync(new Uint8Array(Math.min(65536, Math.max(0, n | 0))))).copyInto({ release: true }),
    );
    // One wake-up per instance, whatever the function's timer count (the prelude keeps the timers).
    const timer = new ivm.Callback(
      (_id: number, ms: number) => {
        if (this.dead) return;
        if (this.#wake) clearTimeout(this.#wake);
        this.#timersArmed = true;
        this.#wake = setTimeout(
          () => {
            this.#wake = null;
            if (this.dead) return;
            // Timers run only while the instance has work in flight (the watchdog watches it then);
            // a wake-up that finds it idle (a timer set at load time) drops them instead.
            if (this.active > 0) this.#api.fire.apply(undefined, [0]).catch(() => undefined);
            else {
              this.#timersArmed = false;
              this.#api.fire.applyIgnored(undefined, [-1]);
            }
          },
          Math.min(2_147_483_647, Math.max(0, Number(ms) || 0)),
        );
      },
      { ignored: true },
    );
    const clear = new ivm.Callback(
      () => {
        if (this.#wake) clearTimeout(this.#wake);
        this.#wake = null;
      },
      { ignored: true },
    );
    const done = new ivm.Callback(
      (frames: unknown, bodies: unknown, taken: unknown) => {
        this.#delivered(frames, bodies);
        if (taken === true) this.#taken();
      },
      { ignored: true },
    );
    const lazy = new ivm.Callback(lazyModuleSource);
    // Handlers of a long batch are returning (prelude.ts `progressed`): the CPU window restarts,
    // as when a request finishes. A handler that never returns cannot send it.
    const progress = new ivm.Callback(() => void (this.#progressed = true), { ignored: true });
    const descriptors: Record<string, { kind: string; value?: unknown }> = {};
    for (const [name, v] of Object.entries(this.service.vars)) descriptors[name] = { kind: "var", value: v };
    for (const [name, b] of Object.entries(this.service.bindings)) {
      if (b.kind === "secret") {
        const value = host.secret?.(b.secret);
        if (value !== undefined) descriptors[name] = { kind: "var", value };
      } else descriptors[name] = { kind: b.kind };
    }
    // Wasm memory and resizable buffers live outside the heap limit: the prelude bounds them by the same number.
    const wasmLimit = this.service.limits.memoryMb * 1024 * 1024;
    // The callbacks cross as they are (ivm passes them by reference); the descriptors as JSON.
    this.#api.init.applySync(undefined, [JSON.stringify(descriptors), wasmLimit, log, io, random, timer, clear, done, progress, lazy], { timeout });
  }

  /** Starts watching this instance (CPU time, deadlines) if nothing was being watched on it. */
  #watch(): void {
    if (busy.has(this) || this.dead) return;
    try {
      this.#cpuStart = this.isolate.cpuTime;
    } catch {
      return;
    }
    busy.add(this);
    watchdog ??= setInterval(watch, WATCH_MS).unref();
  }

  /**
   * The last request finished. The watchdog keeps looking while the isolate still uses CPU: the
   * isolate's thread may be running work left behind (a promise chain spinning after the
   * response), which must stay within limits.cpu like any other; it stops looking at the first
   * tick the CPU time stands still. This costs nothing per request (no call is tracked).
   */
  #unwatch(): void {
    if (this.active === 0) this.#idleCpu = -1n;
  }

  /**
   * Called by the watchdog every 10 ms while the instance is busy: enforces limits.cpu (CPU time
   * spent without finishing a request) and limits.timeout (per request), and notices a heap-limit
   * disposal.
   */
  enforceLimits(): void {
    if (this.dead) return;
    if (this.isolate.isDisposed) {
      // V8 disposed it: the only cause we do not initiate is the heap limit.
      this.kill("STRATUS_E_MEMORY_LIMIT");
      return;
    }
    let now: bigint;
    try {
      now = this.isolate.cpuTime;
    } catch {
      return;
    }
    // The CPU window restarts whenever a request finishes: requests sharing an instance cannot be
    // told apart, so the limit is CPU spent without finishing any request (exact at concurrency 1).
    // With nothing in flight, it is CPU spent by work left running, as long as there is any.
    if (this.active === 0) {
      if (now === this.#idleCpu) {
        busy.delete(this);
        return;
      }
      this.#idleCpu = now;
    }
    if (this.#progressed) {
      this.#progressed = false;
      this.#overCpu = false;
      this.#cpuStart = now;
    } else if (now - this.#cpuStart > this.#cpuLimitNs) {
      // Over the limit at a second look only: after a stall of the host's thread, timers run before
      // the replies the isolate already sent are read, so a first look can miss progress made.
      if (this.#overCpu) {
        this.kill("STRATUS_E_CPU_LIMIT");
        return;
      }
      this.#overCpu = true;
    }
    // Deadlines are not in send order (a service call carries its root request's deadline).
    const t = performance.now();
    for (const [id, w] of this.#waiting) {
      if (w.deadline > t) continue;
      // A handler that never answers holds its isolate; replace it unless others share it.
      if (this.active <= 1) {
        this.kill("STRATUS_E_TIMEOUT");
        return;
      }
      this.#waiting.delete(id);
      w.reject(Object.assign(new Error("timeout"), { stratusCode: "STRATUS_E_TIMEOUT" }));
      // A batch never taken (the function broke the dispatcher's promises) must not hold back
      // the requests queued behind it: they go in now and meet their own limits.
      if (this.#sending) setImmediate(() => this.#taken());
    }
  }

  /**
   * No request, event or waitUntil work is in flight: the watchdog stops looking, and every timer
   * the function left behind is dropped (it would run unwatched, on no one's behalf).
   */
  #idle(): void {
    // The watchdog keeps looking at an idle instance while its CPU time moves (see #unwatch).
    this.#noteDrops();
    if (!this.#timersArmed || this.dead) return;
    this.#timersArmed = false;
    if (this.#wake) clearTimeout(this.#wake);
    this.#wake = null;
    this.#api.fire.applyIgnored(undefined, [-1]);
  }

  /** Disposes the isolate because a limit was breached; in-flight invocations fail with `code`. */
  kill(code: ErrorCode): void {
    if (this.dead) return;
    this.dead = code;
    busy.delete(this);
    this.#release();
    this.#onDeath(this, code);
  }

  /** Disposes the isolate (scale-down, swap, shutdown). */
  dispose(): void {
    if (this.dead) return;
    this.dead = "disposed";
    busy.delete(this);
    this.#release();
  }

  #release(): void {
    this.#failWaiting();
    if (this.#wake) clearTimeout(this.#wake);
    this.#wake = null;
    try {
      if (!this.isolate.isDisposed) this.isolate.dispose();
    } catch {
      // already gone
    }
  }

  #deathError(err: unknown): { code: ErrorCode; message: string } {
    const msg = err instanceof Error ? err.message : String(err);
    let code: ErrorCode = "STRATUS_E_INTERNAL";
    if (this.dead && this.dead !== "disposed") code = this.dead;
    else if (/memory limit/i.test(msg)) code = "STRATUS_E_MEMORY_LIMIT";
    if (code === "STRATUS_E_MEMORY_LIMIT" && !this.dead) this.kill(code);
    const why: Partial<Record<ErrorCode, string>> = {
      STRATUS_E_MEMORY_LIMIT: `went over its memory limit (limits.memory: ${this.service.limits.memoryMb} MB); the instance was replaced`,
      STRATUS_E_CPU_LIMIT: `used more than ${this.service.limits.cpuMs} ms of CPU (limits.cpu); the instance was replaced`,
      STRATUS_E_TIMEOUT: `did not answer within ${this.service.limits.timeoutMs} ms (limits.timeout); the instance was replaced`,
      STRATUS_E_BAD_RESPONSE: `sent replies the platform could not read (${this.#deathDetail}); the instance was replaced`,
    };
    return { code, message: `service "${this.service.name}" ${why[code] ?? `failed: ${msg}`}` };
  }

  /**
   * Runs one request. The returned `done` resolves when the instance's slot is free again
   * (after a streamed body ends and ctx.waitUntil work settles).
   */
  async invoke(req: InvokeRequest): Promise<{ result: InvokeResult; done: Promise<void> }> {
    this.active++;
    this.#watch();
    this.requestIds.add(req.requestId);
    const id = this.#nextId++;
    const sent = performance.now();
    // A service call is bounded by its own limits.timeout and by its root request's deadline.
    const deadline = Math.min(sent + this.service.limits.timeoutMs, req.deadline ?? Infinity);
    this.#rids.set(id, { requestId: req.requestId, call: { depth: req.depth ?? 0, deadline } });
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#progressed = true;
      this.requestIds.delete(req.requestId);
      this.#forget(id, req.requestId);
      this.active--;
      this.#unwatch();
      if (this.active === 0) this.#idle();
    };
    let payload: string;
    let bodies: unknown;
    try {
      // The watchdog enforces limits.timeout against the deadline #send records.
      [payload, bodies] = await this.#send(id, req, deadline);
    } catch (err) {
      finish();
      const code = (err as { stratusCode?: ErrorCode }).stratusCode;
      const e = code === "STRATUS_E_TIMEOUT" ? this.#timeoutError() : this.#deathError(err);
      return { result: errorResult(e.code, e.message), done: DONE };
    }
    const reply = decodeReply(payload, bodies);
    if (isViolation(reply)) {
      finish();
      return { result: this.#badReply(reply), done: DONE };
    }
    if (reply.kind === "E") {
      finish();
      const known = isErrorCode(reply.code);
      const code = known ? reply.code : "STRATUS_E_HANDLER_THREW";
      const what =
        code === "STRATUS_E_HANDLER_THREW" ? `service "${this.service.name}" threw: ${known ? "" : `${reply.code}: `}${reply.message}` : reply.message;
      return { result: errorResult(code, what), done: DONE };
    }
    const { status, statusText, headers, body, streamId, waits } = reply;
    const result: InvokeResult = { status, statusText, headers, body, stream: null, error: null };
    if (streamId === 0 && waits === 0) {
      finish();
      return { result, done: DONE };
    }
    let streamDone: Promise<void> = DONE;
    if (streamId !== 0) {
      let resolveStream!: () => void;
      streamDone = new Promise((r) => (resolveStream = r));
      const cut = { done: false };
      result.stream = this.#stream(streamId, resolveStream, deadline, cut);
      // A stream nobody reads (HEAD, a client gone before the first chunk) never runs the
      // generator's cleanup: free the slot at the deadline all the same.
      const guard = setTimeout(
        () => {
          // Marked first: a pull answered after this cancel says "end", which must read as a cut.
          cut.done = true;
          if (!this.dead) this.#api.cancel.apply(undefined, [streamId]).catch(() => undefined);
          resolveStream();
        },
        Math.max(0, deadline - performance.now()),
      );
      void streamDone.then(() => clearTimeout(guard));
    }
    const done = (async () => {
      await streamDone;
      if (waits > 0 && !this.dead) {
        await Promise.race([
          this.#api.settle.apply(undefined, [], { result: { promise: true } }).catch(() => undefined),
          // waitUntil work gets limits.timeout after the response, never past the root request's deadline.
          new Promise((r) => setTimeout(r, Math.max(0, Math.min(this.service.limits.timeoutMs, (req.deadline ?? Infinity) - performance.now()))).unref()),
        ]);
      }
      finish();
    })();
    return { result, done };
  }

  /** The error result for a reply that broke the protocol: it fails this request only. */
  #badReply(v: Violation): InvokeResult {
    return errorResult(v.code, `service "${this.service.name}" returned a response HTTP cannot carry: ${v.message}`);
  }

  /**
   * Runs non-HTTP work (a batch of events, a cron run): `payload` is JSON the isolate's dispatchTask
   * reads. Resolves with one [0] | [1, code, message, permanent] per unit of work; when the
   * instance dies or misses the deadline, every unit fails with `batch` set.
   */
  async task(kind: "event" | "scheduled", payload: string, units: number, label: string): Promise<TaskOutcome[]> {
    this.active++;
    this.#watch();
    this.requestIds.add(label);
    const id = this.#nextId++;
    const deadline = performance.now() + this.service.limits.timeoutMs + 1000;
    this.#rids.set(id, { requestId: label, call: { depth: 0, deadline } });
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        // The isolate bounds each unit by limits.timeout; this deadline catches a handler that never yields.
        this.#waiting.set(id, { resolve, reject, deadline });
        this.#api.task.applyIgnored(undefined, [id, kind, payload]);
      });
      let outs = decodeTask(reply, units);
      if (isViolation(outs) && reply.startsWith("E\n")) {
        // The dispatcher itself failed: every unit fails with its error.
        const e = decodeReply(reply, null);
        if (!isViolation(e) && e.kind === "E")
          outs = new Array(units).fill([1, isErrorCode(e.code) ? e.code : "STRATUS_E_HANDLER_THREW", e.message, false]) as [1, string, string, boolean][];
      }
      if (isViolation(outs)) {
        const message = `service "${this.service.name}" reported its work in a form the platform cannot read: ${outs.message}`;
        return new Array<TaskOutcome>(units).fill({ ok: false, code: outs.code, message, batch: true });
      }
      // A code the platform does not define is the function's own: it becomes HANDLER_THREW (and
      // names it in the message), so outcomes, logs and metric labels only ever carry real codes.
      return outs.map((o) => {
        if (o[0] === 0) return { ok: true };
        const known = isErrorCode(o[1]);
        const code = known ? o[1] : "STRATUS_E_HANDLER_THREW";
        const message = code === "STRATUS_E_HANDLER_THREW" ? `service "${this.service.name}" threw: ${known ? "" : `${o[1]}: `}${o[2]}` : o[2];
        return { ok: false, code, message, permanent: o[3] };
      });
    } catch (err) {
      const code = (err as { stratusCode?: ErrorCode }).stratusCode;
      const e = code === "STRATUS_E_TIMEOUT" ? this.#timeoutError() : this.#deathError(err);
      return new Array<TaskOutcome>(units).fill({ ok: false, code: e.code, message: e.message, batch: true });
    } finally {
      this.#progressed = true;
      this.requestIds.delete(label);
      this.#forget(id, label);
      this.active--;
      this.#unwatch();
      if (this.active === 0) this.#idle();
    }
  }

  /**
   * Sends a request in. Body-less requests are collected until the end of this turn of the event
   * loop and cross together (one crossing for many requests under load); a body crosses as bytes.
   */
  #send(id: number, req: InvokeRequest, deadline: number): Promise<[string, unknown]> {
    const head = req.headers.join("\n");
    const params = req.params ? JSON.stringify(req.params) : null;
    return new Promise<[string, unknown]>((resolve, reject) => {
      this.#waiting.set(id, {
        resolve: (payload, bodies) => resolve([payload, bodies]),
        reject,
        deadline,
      });
      if (req.body) {
        const body = new ivm.ExternalCopy(req.body).copyInto({ release: true });
        this.#api.one.applyIgnored(undefined, [id, req.method, req.url, head, body, params]);
        return;
      }
      this.#outbox.push(encodeRequest(id, req.method, req.url, head, params));
      if (!this.#flushQueued && !this.#sending) {
        this.#flushQueued = true;
        setImmediate(this.#flush);
      }
    });
  }

  /**
   * Sends the collected body-less requests in one crossing. One batch is in the isolate at a time:
   * requests that arrive meanwhile wait here and cross together once it is taken, so under load
   * each crossing carries many requests. The call's result is the replies that were ready at once
   * (protocol.ts frames), so a batch of quick handlers costs one crossing each way.
   */
  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#outbox.length === 0 || this.dead) return;
    const batch = this.#outbox.join("");
    this.#outbox = [];
    this.#sending = true;
    // No result: the word that it was taken comes with the replies (the done callback). If the dispatcher
    // throws (the function rewrote built-ins it uses), that word never comes: the batch's requests
    // meet their deadlines, and the first one to time out sends the queue in (enforceLimits).
    this.#api.batch.applyIgnored(undefined, [batch]);
  };

  /** The isolate took the last batch (see #flush): send what queued up meanwhile. */
  #taken(): void {
    if (!this.#sending) return;
    this.#sending = false;
    this.#flush();
  }

  /**
   * Replies from the isolate (protocol.ts). A frame for an id not waiting (never sent, already
   * answered or timed out) is dropped; a frame of the wrong kind fails its request; a batch whose
   * framing is broken stops the instance, since nothing after the break can be attributed.
   */
  #delivered(frames: unknown, bodies: unknown): void {
    if (this.dead) return;
    const problem = decodeFrames(frames, (id, payload) => {
      const w = this.#waiting.get(id);
      if (!w) return;
      this.#waiting.delete(id);
      // A task's payload where a response belongs (or the reverse) fails to decode there.
      w.resolve(payload, bodies);
    });
    if (problem !== null) {
      this.#deathDetail = problem;
      this.kill("STRATUS_E_BAD_RESPONSE");
    }
  }

  /** Fails every invocation still waiting on this isolate (it was killed or disposed). */
  #failWaiting(): void {
    const err = Object.assign(new Error("the instance was stopped"), { stratusCode: this.dead === "disposed" ? undefined : this.dead });
    for (const w of this.#waiting.values()) w.reject(err);
    this.#waiting.clear();
    this.#outbox = [];
  }

  #timeoutError(): { code: ErrorCode; message: string } {
    return {
      code: "STRATUS_E_TIMEOUT",
      message: `service "${this.service.name}" did not answer within ${this.service.limits.timeoutMs} ms (limits.timeout)${this.dead ? "; the instance was replaced" : ""}`,
    };
  }

  /**
   * The chunks of a streamed body. The whole response is bounded by limits.timeout from when the
   * request was sent (`deadline`, on performance.now()): a stream that never ends, or drips, is
   * cancelled there and fails with STRATUS_E_TIMEOUT, freeing the instance's slot. Headers are
   * already out by then, so the gateway can only cut the connection.
   */
  async *#stream(id: number, end: () => void, deadline: number, cut: { done: boolean }): AsyncGenerator<Uint8Array> {
    let complete = false;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<"expired">((resolve) => {
      timer = setTimeout(() => resolve("expired"), Math.max(0, deadline - performance.now()));
    });
    try {
      for (;;) {
        const raced = cut.done ? "expired" : await Promise.race([this.#api.pull.apply(undefined, [id], COPY), expired]);
        if (raced === "expired" || cut.done) {
          throw new StratusError(
            "STRATUS_E_TIMEOUT",
            `service "${this.service.name}": the response body did not end within ${this.service.limits.timeoutMs} ms of the request (limits.timeout); the stream was cancelled and the connection closed`,
          );
        }
        const chunk = decodeChunk(raced);
        if (isViolation(chunk)) throw new Error(chunk.message);
        if (chunk === null) {
          complete = true;
          return;
        }
        yield chunk;
      }
    } catch (err) {
      if (err instanceof StratusError) throw err;
      throw new StratusError(
        this.dead && this.dead !== "disposed" ? this.dead : "STRATUS_E_HANDLER_THREW",
        `service "${this.service.name}": the response stream failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      clearTimeout(timer);
      if (!complete && !this.dead) this.#api.cancel.apply(undefined, [id]).catch(() => undefined);
      end();
    }
  }
}

/** True when `code` is one of the platform's error codes (own keys only: "constructor" is not one). */
function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_CODES, code);
}

/** The whole body of a result as bytes (a streamed body is read to its end). */
export async function readBody(result: Pick<InvokeResult, "body" | "stream">): Promise<Uint8Array> {
  if (result.stream) {
    const parts: Uint8Array[] = [];
    for await (const c of result.stream) parts.push(c);
    return Buffer.concat(parts);
  }
  return typeof result.body === "string" ? Buffer.from(result.body) : (result.body ?? new Uint8Array(0));
}

/** An InvokeResult that carries an error as a JSON body. */
export function errorResult(code: ErrorCode, message: string): InvokeResult {
  const status = new StratusError(code, message).status;
  return {
    status,
    statusText: "",
    headers: ["content-type", "application/json"],
    // The first line only: stacks go to the log, not to the client.
    body: JSON.stringify({ error: { code, message: message.split("\n")[0] } }),
    stream: null,
    error: { code, message },
  };
}
