/**
 * The runtime of one process: the current version of every service (an instance pool each),
 * atomic swaps to new versions, invocation with limits, spare blank isolates and the logs.
 */
import diagnostics from "node:diagnostics_channel";
import type { ResolvedService } from "../config/index.ts";
import { StratusError, type ErrorCode } from "../errors/index.ts";
import type { StateProvider } from "../state/index.ts";
import { secretRedactor, type Logger } from "../telemetry/index.ts";
import type { Capacity } from "./capacity.ts";
import { HostIo, type Publisher } from "./host-io.ts";

export type { Publisher };
import { errorResult, makeBlankIsolate, type InvokeRequest, type InvokeResult, type LoadedCode, type TaskOutcome } from "./instance.ts";
import { CpuFairness, fairnessFromEnv, type CpuMeter, type CpuPeers, type FairnessMode } from "./fairness.ts";
import { isDraining, OPEN_GATE, Pool, type Lease } from "./pool.ts";
import { Spares } from "./spares.ts";
import { firstUserFrame, stackMapper, type StackMapper } from "./stack-map.ts";
import { IsolateThreadPriority } from "./thread-priority.ts";

/** A service version's code as deployed: the bundle, its hash, and its source map when it has one. */
export interface DeployCode {
  code: string;
  hash: string;
  /** The source map (JSON) of the bundle: stacks in error replies and console lines are mapped with it. */
  map?: string;
}

/** Options of Runtime. */
export interface RuntimeOptions {
  /** Where KV and SQL bindings keep their data. */
  state: StateProvider;
  logger: Logger;
  /** Blank isolates (default memory size) kept ready so a cold start only loads code (default 2). */
  spares?: number;
  /**
   * The clock idle timeouts and the autoscalers' windows are measured on (default Date.now). With
   * a clock of its own the runtime does not tick by itself: whoever moves the clock calls sweep()
   * (ticks on a clock that stands still would fill the windows with samples of one instant).
   */
  clock?: () => number;
  /** The node-wide instance budget (default: this process's own scale.max only). */
  capacity?: Capacity;
  /** Where env.X.publish() goes (the event bus); without it publish fails. */
  publish?: Publisher;
  /**
   * The path parameters of `service`'s route that matches `method` and `path`, or null when none
   * does; service-binding calls are routed with it so the callee's ctx.params is filled as for a
   * request through the gateway.
   */
  route?: (service: string, method: string, path: string) => Record<string, string> | null;
  /** Secret values by name (read at each instance start); they are also redacted from console lines and error messages. */
  secrets?: () => ReadonlyMap<string, string>;
  /**
   * CPU fairness between services (fairness.ts, thread-priority.ts). `mode`: "admission" is
   * CPU-fair admission, "priority" isolate threads at a lower OS priority, "both" or "off"
   * (default: STRATUS_CPU_FAIRNESS, else "admission"); `cores`: the node's cores (default
   * this machine's). `meter`: for tests.
   */
  fairness?: { mode?: FairnessMode; cores?: number; meter?: CpuMeter };
}

const REDACTED = "[REDACTED]";

/** How a canary split stays sticky: by a request header's value, or a cookie's. */
export type CanarySticky = { header: string } | { cookie: string };

/** The value a sticky split hashes, or null when the request does not carry it. */
function stickyKey(sticky: CanarySticky, headers: readonly string[]): string | null {
  const name = "header" in sticky ? sticky.header.toLowerCase() : "cookie";
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] !== name) continue;
    const v = headers[i + 1]!;
    if ("header" in sticky) return v;
    for (const part of v.split(";")) {
      const eq = part.indexOf("=");
      if (eq > 0 && part.slice(0, eq).trim() === sticky.cookie) return part.slice(eq + 1).trim();
    }
  }
  return null;
}

/** FNV-1a of a string (a stable, even split of sticky keys). */
function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * Replaces every secret value (3 characters or more) in `text`, and every encoded form of the
 * secrets the process's redactor knows (JSON-escaped, URL-encoded, base64, hex...): error messages
 * and bodies reach clients, not only logs.
 */
export function redact(text: string, secrets: ReadonlyMap<string, string> | undefined): string {
  let out = text;
  if (secrets) for (const v of secrets.values()) if (v.length >= 3 && out.includes(v)) out = out.split(v).join(REDACTED);
  return secretRedactor.redact(out);
}

/** What one invocation produced, for the gateway and the logs. */
export interface Invocation {
  result: InvokeResult;
  /** True when an instance was started for this request. */
  cold: boolean;
  /** The version (bundle hash, 12 hex digits) that served it. */
  version: string;
}

/** A service version as deployed. */
export interface DeployedVersion {
  service: string;
  version: string;
}

/** Per-service figures for status output. */
export interface ServiceStatus {
  service: string;
  version: string;
  instances: number;
  /** Instances serving at least one request. */
  busy: number;
  inFlight: number;
  queued: number;
  invocations: number;
  coldStarts: number;
  /** The autoscaler's desired instance count (within scale.min..scale.max). */
  desired: number;
  /** True while a burst holds the pool in panic mode. */
  panic: boolean;
  /** The canary beside the live version, if any. */
  canary: { version: string; percent: number; instances: number } | null;
}

const DEFAULT_MEMORY = 128;
/** How often every pool's autoscaler samples its load and its idle instances are swept. */
const TICK_MS = 100;

/** Published on `stratus:invocation` after every invocation (metrics and traces subscribe). */
export interface InvocationEvent {
  /** The runtime that served it (a process may hold several, e.g. in tests). */
  runtime: Runtime;
  service: string;
  /** The version that served it (12 hex digits; "" when none could). */
  version?: string;
  durationMs: number;
  cold: boolean;
  status: number;
  /** The error code when the invocation failed (including 429 STRATUS_E_OVERLOADED). */
  code: ErrorCode | null;
}

/** Published on `stratus:limit` when an instance is stopped for breaching a limit. */
export interface LimitEvent {
  runtime: Runtime;
  service: string;
  code: ErrorCode;
}

const invocationChannel = diagnostics.channel("stratus:invocation");
const limitChannel = diagnostics.channel("stratus:limit");

/** The runtime. */
export class Runtime {
  readonly #opts: RuntimeOptions;
  readonly #pools = new Map<string, Pool>();
  /** Why a service with no live version failed to load (its 503s say so). */
  readonly #loadErrors = new Map<string, Error>();
  /** Each pool's stack mapper (its bundle's source map). */
  readonly #mappers = new WeakMap<Pool, StackMapper>();
  readonly #canaries = new Map<string, { pool: Pool; percent: number; sticky: CanarySticky | null }>();
  readonly #spares: Spares;
  /**
   * The depth of the events being handled, per task label (a service call made from a handler
   * shares its label as request id, so the callee's publishes inherit it); the deepest counts.
   */
  readonly #eventDepth = new Map<string, number[]>();
  readonly #stackServices = new Set<string>();
  #closed = false;
  /** One timer for every pool: the autoscalers' ticks and the idle sweeps (none on a clock of the caller's). */
  readonly #ticker: NodeJS.Timeout | undefined;
  /** CPU-fair admission (null when off). */
  readonly #fair: CpuFairness | null;
  /** Isolate threads at a lower OS priority (null when off). */
  readonly #priority: IsolateThreadPriority | null;

  constructor(opts: RuntimeOptions) {
    this.#opts = opts;
    const mode = opts.fairness?.mode ?? fairnessFromEnv();
    this.#fair =
      mode === "admission" || mode === "both"
        ? new CpuFairness({
            ...(opts.fairness?.cores !== undefined ? { cores: opts.fairness.cores } : {}),
            ...(opts.fairness?.meter ? { meter: opts.fairness.meter } : {}),
            ...(opts.clock ? { clock: opts.clock } : {}),
            onFault: (err) => opts.logger.warn({ err: String(err) }, "CPU fairness failed and is off for this process; every service is admitted as it comes"),
          })
        : null;
    this.#priority =
      mode === "priority" || mode === "both"
        ? new IsolateThreadPriority({
            onError: (err) => opts.logger.warn({ err: String(err) }, "isolate threads could not be given a lower priority; they keep the event loop's"),
          })
        : null;
    this.#spares = new Spares({ target: opts.spares ?? 2, memoryMb: DEFAULT_MEMORY, make: makeBlankIsolate });
    this.#ticker = opts.clock ? undefined : setInterval(() => this.#tick(), TICK_MS).unref();
  }

  #tick(): void {
    const now = (this.#opts.clock ?? Date.now)();
    this.#fair?.tick([...this.#pools.values(), ...[...this.#canaries.values()].map((c) => c.pool)]);
    this.#priority?.scan();
    for (const p of this.#pools.values()) {
      p.tick(now);
      p.sweep(now);
    }
    for (const c of this.#canaries.values()) {
      c.pool.tick(now);
      c.pool.sweep(now);
    }
  }

  /** Names of every service in the stack (used in egress hints). */
  setStackServices(names: Iterable<string>): void {
    // Updated in place: every service's HostIo holds this same set.
    this.#stackServices.clear();
    for (const n of names) this.#stackServices.add(n);
  }

  /**
   * Makes `code` the live version of `service`: starts the new pool (which proves the code loads),
   * swaps it in atomically, then drains the old pool (in-flight requests finish on the old code).
   * Throws (and keeps the old version) when the new code fails to load.
   */
  async deploy(service: ResolvedService, code: DeployCode): Promise<DeployedVersion> {
    let pool: Pool;
    try {
      pool = await this.#startPool(service, code);
    } catch (err) {
      if (!this.#pools.has(service.name)) this.#loadErrors.set(service.name, err as Error);
      throw err;
    }
    this.#loadErrors.delete(service.name);
    const old = this.#pools.get(service.name);
    this.#pools.set(service.name, pool);
    if (old) void old.drain();
    return { service: service.name, version: code.hash.slice(0, 12) };
  }

  /** Builds and starts a pool for `code` (proving it loads); throws when it cannot serve. */
  async #startPool(service: ResolvedService, code: DeployCode): Promise<Pool> {
    const mapStack = stackMapper(service.name, code.map);
    const io = new HostIo(
      service,
      this.#opts.state,
      (from, target, req) => this.#serviceCall(from, target, req),
      this.#stackServices,
      this.#opts.publish ?? null,
    );
    const pool = new Pool(
      service,
      { code: code.code, hash: code.hash } satisfies LoadedCode,
      {
        io: (op, args, ids, call) => io.io(op, args, ids, call, this.#eventDepthOf(ids)),
        log: (level, text, ids) => this.#consoleLine(service.name, level, mapStack(text), ids),
        secret: (name) => this.#opts.secrets?.().get(name),
      },
      this.#spares,
      { instanceDied: (svc, c) => this.#instanceDied(svc, c) },
      this.#opts.clock ?? Date.now,
      this.#opts.capacity,
    );
    pool.gate = this.#fair ?? OPEN_GATE;
    try {
      await pool.start();
    } catch (err) {
      await pool.drain();
      throw withSourceLocation(err, mapStack);
    }
    this.#mappers.set(pool, mapStack);
    return pool;
  }

  /**
   * Sends `percent` of `service`'s requests to another version (a canary) beside the live one.
   * With `sticky`, the split is decided by a hash of that header's or cookie's value, so one
   * client stays on one version. Replaces an earlier canary of the service.
   */
  async setCanary(service: ResolvedService, code: DeployCode, percent: number, sticky: CanarySticky | null): Promise<void> {
    const pool = await this.#startPool(service, code);
    const old = this.#canaries.get(service.name);
    this.#canaries.set(service.name, { pool, percent, sticky });
    if (old) void old.pool.drain();
  }

  /** Ends a canary: all of the service's requests go to the live version again. */
  clearCanary(service: string): void {
    const c = this.#canaries.get(service);
    this.#canaries.delete(service);
    if (c) void c.pool.drain();
  }

  /** The canary of a service: its version, share and instances. */
  canary(service: string): { version: string; percent: number; instances: number } | null {
    const c = this.#canaries.get(service);
    return c ? { version: c.pool.code.hash.slice(0, 12), percent: c.percent, instances: c.pool.size } : null;
  }

  /** The pool a request goes to: the canary's share of requests, the live version otherwise. */
  #choose(service: string, req: InvokeRequest): Pool | undefined {
    const stable = this.#pools.get(service);
    const c = this.#canaries.get(service);
    if (!c) return stable;
    let roll: number;
    const key = c.sticky ? stickyKey(c.sticky, req.headers) : null;
    if (key !== null) roll = (hashString(key) % 10_000) / 100;
    else roll = Math.random() * 100;
    return roll < c.percent ? c.pool : stable;
  }

  /** Takes a service out; in-flight requests finish first. */
  async remove(service: string): Promise<void> {
    this.clearCanary(service);
    this.#loadErrors.delete(service);
    const pool = this.#pools.get(service);
    this.#pools.delete(service);
    await pool?.drain();
  }

  /** The live version of a service, if any. */
  version(service: string): string | undefined {
    return this.#pools.get(service)?.code.hash.slice(0, 12);
  }

  /** Runs one request on the live version of `service`, and reports it on `stratus:invocation`. */
  async invoke(service: string, req: InvokeRequest): Promise<Invocation> {
    if (!invocationChannel.hasSubscribers) return this.#invoke(service, req);
    const start = performance.now();
    const inv = await this.#invoke(service, req);
    invocationChannel.publish({
      runtime: this,
      service,
      version: inv.version,
      durationMs: performance.now() - start,
      cold: inv.cold,
      status: inv.result.status,
      code: inv.result.error?.code ?? null,
    } satisfies InvocationEvent);
    return inv;
  }

  async #invoke(service: string, req: InvokeRequest): Promise<Invocation> {
    const got = await this.#lease(service, () => (this.#canaries.size > 0 ? this.#choose(service, req) : this.#pools.get(service)));
    if ("missing" in got) {
      const why = this.#loadErrors.get(service);
      return {
        result: errorResult(
          "STRATUS_E_SERVICE_UNAVAILABLE",
          why
            ? `service "${service}" has no running version: it failed to load (${redact(why.message.replace(/\n\s*/g, " "), this.#opts.secrets?.())}); fix the code and save (stratus dev reloads it) or apply a fixed version`
            : `service "${service}" has no running version: its code failed to build or load (the error is in the stratus dev output); save a fix`,
        ),
        cold: false,
        version: "",
      };
    }
    const { pool } = got;
    const version = pool.code.hash.slice(0, 12);
    if ("error" in got) {
      const err = got.error;
      const e = err instanceof StratusError ? err : new StratusError("STRATUS_E_INTERNAL", String(err));
      const result = errorResult(e.code, e.message);
      const retryAfter = e.code === "STRATUS_E_OVERLOADED" ? 1 : (err as { retryAfter?: number }).retryAfter;
      if (retryAfter !== undefined) result.headers.push("retry-after", String(retryAfter));
      return { result, cold: false, version };
    }
    const { lease } = got;
    const { result, done } = await lease.instance.invoke(req);
    void done.then(() => pool.release(lease.instance));
    if (result.error) {
      // The stack names bundle lines: point it at the user's files instead.
      const map = this.#mappers.get(pool);
      if (map) {
        result.error.message = map(result.error.message);
        if (typeof result.body === "string") result.body = map(result.body);
      }
    }
    if (result.error && this.#opts.secrets) {
      // A function's error can quote a secret; neither the client nor the log line gets it.
      const secrets = this.#opts.secrets();
      result.error.message = redact(result.error.message, secrets);
      if (typeof result.body === "string") result.body = redact(result.body, secrets);
    }
    return { result, cold: lease.cold, version };
  }

  /**
   * Runs `service`'s event() handler for each event (serialised CloudEvents) on one instance, all at
   * once. Work that could not start (no running version, the queue is full) comes back `deferred`.
   */
  async runEvents(service: string, events: readonly string[], depth = 0): Promise<(TaskOutcome & { deferred?: boolean })[]> {
    const pool = this.#pools.get(service);
    const timeout = pool?.service.limits.timeoutMs ?? 0;
    // Events of different depths run under different labels, so a publish is attributed to its
    // own batch's depth (the label is what the isolate's I/O calls are known by).
    const label = depth > 0 ? `events:${service}:depth${depth}` : `events:${service}`;
    let depths = this.#eventDepth.get(label);
    if (!depths) this.#eventDepth.set(label, (depths = []));
    depths.push(depth);
    try {
      return await this.#task(service, "event", `{"timeout":${timeout},"events":[${events.join(",")}]}`, events.length, label);
    } finally {
      depths.splice(depths.indexOf(depth), 1);
      if (depths.length === 0) this.#eventDepth.delete(label);
    }
  }

  /** Runs `service`'s scheduled() handler for the run of `cron` due at `scheduledTime`. */
  async runScheduled(service: string, cron: string, scheduledTime: number): Promise<TaskOutcome & { deferred?: boolean }> {
    const pool = this.#pools.get(service);
    const timeout = pool?.service.limits.timeoutMs ?? 0;
    const [out] = await this.#task(service, "scheduled", JSON.stringify({ timeout, cron, scheduledTime }), 1, `cron:${service}`);
    return out!;
  }

  async #task(service: string, kind: "event" | "scheduled", payload: string, units: number, label: string): Promise<(TaskOutcome & { deferred?: boolean })[]> {
    const deferred = (code: string, message: string): (TaskOutcome & { deferred: boolean })[] =>
      new Array<TaskOutcome & { deferred: boolean }>(units).fill({ ok: false, code, message, deferred: true });
    // One unit of work (a cron run; an event delivered alone, as a retry after its batch failed
    // is) runs on an instance of its own: a handler that loops or runs out of memory then fails
    // only itself, and the verdict on it is its own.
    const got = await this.#lease(service, () => this.#pools.get(service), units === 1);
    if ("missing" in got) return deferred("STRATUS_E_SERVICE_UNAVAILABLE", `service "${service}" has no running version`);
    if ("error" in got) {
      const e = got.error as { code?: string; message?: string };
      return deferred(e.code ?? "STRATUS_E_INTERNAL", e.message ?? String(got.error));
    }
    const { pool, lease } = got;
    const start = performance.now();
    try {
      const outs = await lease.instance.task(kind, payload, units, label);
      const map = this.#mappers.get(pool);
      if (map) for (const o of outs) if (o.message) o.message = map(o.message);
      if (this.#opts.secrets) for (const o of outs) if (o.message) o.message = redact(o.message, this.#opts.secrets());
      if (invocationChannel.hasSubscribers) {
        const failed = outs.find((o) => !o.ok);
        invocationChannel.publish({
          runtime: this,
          service,
          durationMs: performance.now() - start,
          cold: lease.cold,
          status: failed ? 500 : 200,
          code: (failed?.code as ErrorCode | undefined) ?? null,
        } satisfies InvocationEvent);
      }
      return outs;
    } finally {
      pool.release(lease.instance, lease.slots);
    }
  }

  /**
   * A slot on the pool `choose` picks. A deploy may swap pools between the choice and the slot
   * (the request waited in the old pool's queue, or its instance start outlived the swap): the
   * draining pool refuses, and the request follows to the pool that is live now. Only a service
   * with no live pool left (removed, or the runtime closing) gets the refusal. The loop needs no
   * cap: each turn means another version was swapped in while the request waited, and a request
   * waits at most limits.timeout in any one queue.
   */
  async #lease(
    service: string,
    choose: () => Pool | undefined,
    alone = false,
  ): Promise<{ missing: true } | { pool: Pool; error: unknown } | { pool: Pool; lease: Lease }> {
    let pool = choose();
    if (!pool) return { missing: true };
    for (;;) {
      try {
        return { pool, lease: await pool.acquire(alone) };
      } catch (err) {
        const next = isDraining(err) ? choose() : undefined;
        if (!next || next === pool) return { pool, error: err };
        pool = next;
      }
    }
  }

  async #serviceCall(from: string, target: string, req: InvokeRequest): Promise<InvokeResult> {
    const start = performance.now();
    {
      // Routed like a gateway request, so ctx.params is filled. A path that matches none of the
      // callee's routes still reaches it (with no params): bindings are how a service reaches
      // another's internal paths, and services with no routes at all.
      const params = req.params ?? this.#opts.route?.(target, req.method, pathOnly(req.url));
      const inv = await this.invoke(target, params ? { ...req, params } : req);
      this.#opts.logger.info(
        {
          service: target,
          caller: from,
          method: req.method,
          // The path only: a query is where callers pass keys and tokens (finding A8).
          path: pathOnly(req.url),
          status: inv.result.status,
          durationMs: round(performance.now() - start),
          cold: inv.cold,
          requestId: req.requestId,
          ...(inv.result.error ? { code: inv.result.error.code } : {}),
        },
        `service call from ${from}`,
      );
      return inv.result;
    }
  }

  /** The event depth a publish from `ids` carries: one more than the deepest event being handled, 0 outside handlers. */
  #eventDepthOf(ids: ReadonlySet<string>): number {
    let depth = -1;
    for (const id of ids) for (const d of this.#eventDepth.get(id) ?? []) depth = Math.max(depth, d);
    return depth + 1;
  }

  #consoleLine(service: string, level: string, text: string, ids: ReadonlySet<string>): void {
    const log = this.#opts.logger;
    const fields = ids.size === 1 ? { service, requestId: ids.values().next().value, source: "console" } : { service, requestIds: [...ids], source: "console" };
    const lvl = level === "error" ? "error" : level === "warn" ? "warn" : level === "debug" ? "debug" : "info";
    log[lvl](fields, redact(text, this.#opts.secrets?.()));
  }

  #instanceDied(service: string, code: ErrorCode): void {
    if (limitChannel.hasSubscribers) limitChannel.publish({ runtime: this, service, code } satisfies LimitEvent);
    this.#opts.logger.warn(
      { service, code },
      `an instance of ${service} was stopped (${code}) and will be replaced on the next request; other services are unaffected`,
    );
  }

  /** Another worker waits for `service`'s node-wide budget: give an instance back when one is idle. */
  reclaim(service: string): void {
    this.#pools.get(service)?.reclaim();
  }

  /** `service`'s node-wide budget has room again: start instances for requests waiting here. */
  retry(service: string): void {
    this.#pools.get(service)?.retry();
  }

  /** CPU fairness judges on the whole node's figures from now on: `peers` are the other worker processes. */
  shareCpu(peers: CpuPeers): void {
    if (this.#fair) this.#fair.peers = peers;
  }

  /** Services whose new work CPU fairness holds now (fairness.ts). */
  get cpuHeld(): string[] {
    return this.#fair?.holding ?? [];
  }

  /** Runs every pool's autoscaler step and idle sweep now (also done every 100 ms); tests call it after moving the clock. */
  sweep(): void {
    this.#tick();
  }

  /** Figures per service. */
  status(): ServiceStatus[] {
    return [...this.#pools.values()].map((p) => ({
      service: p.service.name,
      version: p.code.hash.slice(0, 12),
      instances: p.size,
      busy: p.busy,
      inFlight: p.inFlight,
      queued: p.queued,
      invocations: p.invocations,
      coldStarts: p.coldStarts,
      desired: p.desired,
      panic: p.panic,
      canary: this.canary(p.service.name),
    }));
  }

  /** Drains every pool and disposes the spares. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#ticker);
    await Promise.all([...this.#pools.values(), ...[...this.#canaries.values()].map((c) => c.pool)].map((p) => p.drain()));
    this.#pools.clear();
    this.#canaries.clear();
    this.#spares.close();
  }
}

/**
 * A load failure with the place in the user's code it came from: the top level's stack (the
 * error's cause) mapped through the source map, its first frame in the user's own files.
 */
function withSourceLocation(err: unknown, mapStack: StackMapper): unknown {
  if (!(err instanceof StratusError)) return err;
  const stack = (err.cause as { stack?: unknown } | undefined)?.stack;
  const at = typeof stack === "string" ? firstUserFrame(mapStack(stack)) : null;
  if (!at || err.message.includes(at)) return err;
  return new StratusError(err.code, `${err.message}\n  at ${at}`, { cause: err.cause });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** The path of a URL without its query string or fragment. */
function pathOnly(url: string): string {
  const p = safePath(url);
  const q = p.search(/[?#]/);
  return q < 0 ? p : p.slice(0, q);
}

/** The path of a URL, without throwing on odd input. */
export function safePath(url: string): string {
  const i = url.indexOf("/", url.indexOf("//") + 2);
  return i < 0 ? "/" : url.slice(i);
}
