/**
 * One instance of a function: a V8 isolate with the prelude, the service's bindings and its
 * bundle loaded. A request crosses into the isolate once (method, url, headers, body) and its
 * response crosses out once; only real I/O calls back to the host.
 */
import { randomFillSync } from "node:crypto";
import ivm from "isolated-vm";
import type { ResolvedService } from "../config/index.ts";
import { StratusError, type ErrorCode } from "../errors/index.ts";
import { lazyModuleSource, preludeScript, preludeSnapshot } from "./prelude-build.ts";

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
  io(op: string, args: unknown[], requestIds: ReadonlySet<string>): Promise<unknown>;
  log(level: string, text: string, requestIds: ReadonlySet<string>): void;
  /** The value of a secret the service is granted, if the node has it. */
  secret?(name: string): string | undefined;
}

/** A compiled bundle shared by all instances of one service version (code cache included). */
export interface LoadedCode {
  readonly code: string;
  readonly hash: string;
  cachedData?: ivm.ExternalCopy<ArrayBuffer>;
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

const DONE: Promise<void> = Promise.resolve();
const COPY = { arguments: { copy: true }, result: { promise: true, copy: true } } as const;

/** The busy instances the watchdog looks at (CPU time, deadlines, heap-limit disposal). */
const busy = new Set<Instance>();
let watchdog: NodeJS.Timeout | null = null;
const WATCH_MS = 10;

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
  readonly #api: {
    batch: ivm.Reference;
    one: ivm.Reference;
    take: ivm.Reference;
    pull: ivm.Reference;
    cancel: ivm.Reference;
    settle: ivm.Reference;
    fire: ivm.Reference;
    task: ivm.Reference;
  };
  readonly #timers = new Map<number, NodeJS.Timeout>();
  /** Invocations sent into the isolate and not yet answered, by id. */
  readonly #waiting = new Map<number, { resolve: (reply: string) => void; reject: (err: unknown) => void; deadline: number }>();
  #nextId = 1;
  #outbox: string[] = [];
  #flushQueued = false;
  /** CPU time of the isolate when the current CPU window began (see enforceLimits). */
  #cpuStart = 0n;
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
    this.#api = {
      batch: get("dispatchBatch"),
      one: get("dispatchOne"),
      take: get("take"),
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
    try {
      inst.#wire(host);
      const script: ivm.Script & { cachedData?: ivm.ExternalCopy<ArrayBuffer> } = code.cachedData
        ? b.isolate.compileScriptSync(code.code, { filename: `stratus:${service.name}.js`, cachedData: code.cachedData })
        : b.isolate.compileScriptSync(code.code, { filename: `stratus:${service.name}.js`, produceCachedData: true });
      if (!code.cachedData && script.cachedData) code.cachedData = script.cachedData;
      await script.run(b.context, { timeout: Math.max(1, service.limits.cpuMs) });
      const needs = [
        ...(service.routes.length > 0 ? ["fetch"] : []),
        ...(service.subscriptions.length > 0 ? ["event"] : []),
        ...(service.schedules.length > 0 ? ["scheduled"] : []),
      ];
      const problem = b.context.global
        .getSync("__stratus", { reference: true })
        .getSync("load", { reference: true })
        .applySync(undefined, [needs], { arguments: { copy: true } }) as string | null;
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

  #wire(host: InstanceHost): void {
    const g = this.context.global;
    g.setSync("__h_log", new ivm.Callback((level: string, text: string) => host.log(level, text, this.requestIds), { ignored: true }));
    g.setSync(
      "__h_io",
      new ivm.Reference(async (op: string, args: unknown[]) => {
        try {
          return new ivm.ExternalCopy([null, await host.io(op, args, this.requestIds)]).copyInto({ release: true });
        } catch (err) {
          const e = err as { code?: string; message?: string };
          const code = typeof e.code === "string" && e.code.startsWith("STRATUS_E_") ? e.code : "STRATUS_E_INTERNAL";
          return new ivm.ExternalCopy([{ code, message: String(e.message ?? err) }, null]).copyInto({ release: true });
        }
      }),
    );
    g.setSync(
      "__h_random",
      new ivm.Callback((n: number) => new ivm.ExternalCopy(randomFillSync(new Uint8Array(Math.min(65536, Math.max(0, n | 0))))).copyInto({ release: true })),
    );
    g.setSync(
      "__h_timer",
      new ivm.Callback(
        (id: number, ms: number) => {
          if (this.dead) return;
          const t = setTimeout(() => {
            this.#timers.delete(id);
            if (!this.dead) this.#api.fire.apply(undefined, [id]).catch(() => undefined);
          }, ms);
          this.#timers.set(id, t);
        },
        { ignored: true },
      ),
    );
    g.setSync(
      "__h_clear",
      new ivm.Callback(
        (id: number) => {
          clearTimeout(this.#timers.get(id));
          this.#timers.delete(id);
        },
        { ignored: true },
      ),
    );
    g.setSync("__h_done", new ivm.Callback((batch: string) => this.#delivered(batch), { ignored: true }));
    g.setSync("__h_lazy", new ivm.Callback(lazyModuleSource));
    const descriptors: Record<string, { kind: string; value?: unknown }> = {};
    for (const [name, v] of Object.entries(this.service.vars)) descriptors[name] = { kind: "var", value: v };
    for (const [name, b] of Object.entries(this.service.bindings)) {
      if (b.kind === "secret") {
        const value = host.secret?.(b.secret);
        if (value !== undefined) descriptors[name] = { kind: "var", value };
      } else descriptors[name] = { kind: b.kind };
    }
    g.getSync("__stratus", { reference: true })
      .getSync("init", { reference: true })
      .applySync(undefined, [descriptors], { arguments: { copy: true } });
  }

  /**
   * Called by the watchdog every 10 ms while the instance is busy: enforces limits.cpu (CPU time
   * spent without finishing a request) and limits.timeout (per request), and notices a heap-limit
   * disposal.
   */
  enforceLimits(): void {
    if (this.dead || this.active === 0) return;
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
    if (this.#progressed) {
      this.#progressed = false;
      this.#cpuStart = now;
    } else if (now - this.#cpuStart > this.#cpuLimitNs) {
      this.kill("STRATUS_E_CPU_LIMIT");
      return;
    }
    // Deadlines are in send order (one timeout per instance), so only the oldest need a look.
    const t = performance.now();
    for (const [id, w] of this.#waiting) {
      if (w.deadline > t) break;
      // A handler that never answers holds its isolate; replace it unless others share it.
      if (this.active <= 1) {
        this.kill("STRATUS_E_TIMEOUT");
        return;
      }
      this.#waiting.delete(id);
      w.reject(Object.assign(new Error("timeout"), { stratusCode: "STRATUS_E_TIMEOUT" }));
    }
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
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
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
    };
    return { code, message: `service "${this.service.name}" ${why[code] ?? `failed: ${msg}`}` };
  }

  /**
   * Runs one request. The returned `done` resolves when the instance's slot is free again
   * (after a streamed body ends and ctx.waitUntil work settles).
   */
  async invoke(req: InvokeRequest): Promise<{ result: InvokeResult; done: Promise<void> }> {
    if (this.active++ === 0) {
      this.#cpuStart = this.isolate.cpuTime;
      busy.add(this);
      watchdog ??= setInterval(watch, WATCH_MS).unref();
    }
    this.requestIds.add(req.requestId);
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      this.#progressed = true;
      this.requestIds.delete(req.requestId);
      if (--this.active === 0) busy.delete(this);
    };
    let reply: string;
    try {
      // The watchdog enforces limits.timeout against the deadline #send records.
      reply = await this.#send(req);
    } catch (err) {
      finish();
      const code = (err as { stratusCode?: ErrorCode }).stratusCode;
      const e = code === "STRATUS_E_TIMEOUT" ? this.#timeoutError() : this.#deathError(err);
      return { result: errorResult(e.code, e.message), done: DONE };
    }
    if (reply.charCodeAt(0) === 69 /* E */) {
      finish();
      const nl = reply.indexOf("\n", 2);
      const code = reply.slice(2, nl) as ErrorCode;
      const message = reply.slice(nl + 1);
      const what = code === "STRATUS_E_HANDLER_THREW" ? `service "${this.service.name}" threw: ${message}` : message;
      return { result: errorResult(code, what), done: DONE };
    }
    // R \n status \n waits \n stream \n bytes \n statusText \n count \n (name \n value \n)* body
    let at = 2;
    const next = (): string => {
      const nl = reply.indexOf("\n", at);
      const v = reply.slice(at, nl);
      at = nl + 1;
      return v;
    };
    const status = Number(next());
    const waits = Number(next());
    const streamId = Number(next());
    const bytesId = Number(next());
    const statusText = next();
    const count = Number(next());
    const headers: string[] = new Array(count * 2);
    for (let i = 0; i < count * 2; i++) headers[i] = next();
    let body: string | Uint8Array | null = reply.slice(at);
    if (bytesId !== 0) body = this.#api.take.applySync(undefined, [bytesId], { result: { copy: true } }) as Uint8Array | null;
    else if (streamId !== 0) body = null;
    const result: InvokeResult = { status, statusText, headers, body, stream: null, error: null };
    if (streamId === 0 && waits === 0) {
      finish();
      return { result, done: DONE };
    }
    let streamDone: Promise<void> = DONE;
    if (streamId !== 0) {
      let resolveStream!: () => void;
      streamDone = new Promise((r) => (resolveStream = r));
      result.stream = this.#stream(streamId, resolveStream);
    }
    const done = (async () => {
      await streamDone;
      if (waits > 0 && !this.dead) {
        await Promise.race([
          this.#api.settle.apply(undefined, [], { result: { promise: true } }).catch(() => undefined),
          new Promise((r) => setTimeout(r, this.service.limits.timeoutMs).unref()),
        ]);
      }
      finish();
    })();
    return { result, done };
  }

  /**
   * Runs non-HTTP work (a batch of events, a cron run): `payload` is JSON the isolate's dispatchTask
   * reads. Resolves with one [0] | [1, code, message, permanent] per unit of work; when the
   * instance dies or misses the deadline, every unit fails with `batch` set.
   */
  async task(kind: "event" | "scheduled", payload: string, units: number, label: string): Promise<TaskOutcome[]> {
    if (this.active++ === 0) {
      this.#cpuStart = this.isolate.cpuTime;
      busy.add(this);
      watchdog ??= setInterval(watch, WATCH_MS).unref();
    }
    this.requestIds.add(label);
    const id = this.#nextId++;
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        // The isolate bounds each unit by limits.timeout; this deadline catches a handler that never yields.
        this.#waiting.set(id, { resolve, reject, deadline: performance.now() + this.service.limits.timeoutMs + 1000 });
        this.#api.task.applyIgnored(undefined, [id, kind, payload]);
      });
      const outs = JSON.parse(reply.slice(2)) as ([0] | [1, string, string, boolean])[];
      return outs.map((o) =>
        o[0] === 0
          ? { ok: true }
          : { ok: false, code: o[1], message: o[1] === "STRATUS_E_HANDLER_THREW" ? `service "${this.service.name}" threw: ${o[2]}` : o[2], permanent: o[3] },
      );
    } catch (err) {
      const code = (err as { stratusCode?: ErrorCode }).stratusCode;
      const e = code === "STRATUS_E_TIMEOUT" ? this.#timeoutError() : this.#deathError(err);
      return new Array<TaskOutcome>(units).fill({ ok: false, code: e.code, message: e.message, batch: true });
    } finally {
      this.#progressed = true;
      this.requestIds.delete(label);
      if (--this.active === 0) busy.delete(this);
    }
  }

  /**
   * Sends a request in. Body-less requests are collected until the end of this turn of the event
   * loop and cross together (one crossing for many requests under load); a body crosses as bytes.
   */
  #send(req: InvokeRequest): Promise<string> {
    const id = this.#nextId++;
    const head = req.headers.join("\n");
    const params = req.params ? JSON.stringify(req.params) : null;
    return new Promise<string>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, deadline: performance.now() + this.service.limits.timeoutMs });
      if (req.body) {
        this.#api.one.applyIgnored(undefined, [id, req.method, req.url, head, new ivm.ExternalCopy(req.body).copyInto({ release: true }), params]);
        return;
      }
      this.#outbox.push(
        `${id},${req.method.length},${req.url.length},${head.length},${params === null ? -1 : params.length};${req.method}${req.url}${head}${params ?? ""}`,
      );
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const batch = this.#outbox.join("");
    this.#outbox = [];
    if (!this.dead) this.#api.batch.applyIgnored(undefined, [batch]);
  };

  /** Replies from the isolate: ("id\x01length\x01reply")*. */
  #delivered(batch: string): void {
    let at = 0;
    while (at < batch.length) {
      const a = batch.indexOf("\x01", at);
      const b = batch.indexOf("\x01", a + 1);
      const id = Number(batch.slice(at, a));
      const len = Number(batch.slice(a + 1, b));
      const reply = batch.slice(b + 1, b + 1 + len);
      at = b + 1 + len;
      const w = this.#waiting.get(id);
      if (w) {
        this.#waiting.delete(id);
        w.resolve(reply);
      }
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

  async *#stream(id: number, end: () => void): AsyncGenerator<Uint8Array> {
    let complete = false;
    try {
      for (;;) {
        const chunk = (await this.#api.pull.apply(undefined, [id], COPY)) as Uint8Array | null;
        if (chunk === null) {
          complete = true;
          return;
        }
        yield chunk;
      }
    } catch (err) {
      throw new StratusError(
        this.dead && this.dead !== "disposed" ? this.dead : "STRATUS_E_HANDLER_THREW",
        `service "${this.service.name}": the response stream failed: ${err instanceof Error ? err.message : String(err)}`,
      );
    } finally {
      if (!complete && !this.dead) this.#api.cancel.apply(undefined, [id]).catch(() => undefined);
      end();
    }
  }
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
