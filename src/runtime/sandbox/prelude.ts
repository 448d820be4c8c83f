// Sandbox code: bundled by esbuild into the script every isolate starts from (a V8 startup
// snapshot where possible). Never loaded by Node; it sees only what the host hands to __stratus_init.
/**
 * The isolate's global scope: Web APIs, console, timers, crypto, fetch, the env bindings and the
 * dispatcher the host calls once per request.
 */
import "./global-shim.ts";
// Before every module that takes a copy of Promise.prototype.then (see context.ts).
import { current, enter, within } from "./context.ts";
import "./memory.ts";
// Before web.ts and form.ts: they make their TextEncoder/TextDecoder when they load.
import { TextDecoder, TextDecoderStream, TextEncoder, TextEncoderStream } from "./encoding.ts";
import {
  ReadableStream,
  WritableStream,
  TransformStream,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  type ReadableStreamDefaultReader,
} from "web-streams-polyfill";
import { URL, URLSearchParams } from "./url.ts";
import { setLazyLoader } from "./lazy.ts";
import { structuredClone } from "./clone.ts";
import { AbortController, AbortSignal } from "./abort.ts";
import { CustomEvent, Event, EventTarget, setEventClock } from "./events.ts";
import { DOMException } from "./dom-exception.ts";
import { atob, btoa } from "./base64.ts";
import { Crypto, CryptoKey, SubtleCrypto, crypto, setCryptoHost } from "./crypto.ts";
import { Performance, now, performance, startClock } from "./performance.ts";
import { Headers, Request, Response, bodyBytes, encoder, decoder, toBytes } from "./web.ts";
import { Blob, File, FormData } from "./form.ts";
import { decodeRequests, encodeError, encodeFrame, encodeResponse, encodeTask, type TaskOutcomeWire } from "../protocol.ts";

/** What the host hands in: callbacks that cross the boundary. */
interface HostBridge {
  /** Fire-and-forget log line. */
  log(level: string, text: string): void;
  /**
   * Asynchronous I/O on behalf of request `rid` (0: unknown); resolves to [error, value] so codes
   * survive the crossing.
   */
  io(op: string, args: unknown[], rid: number): Promise<[{ code: string; message: string } | null, unknown]>;
  /** Synchronous random bytes from the host's CSPRNG. */
  random(n: number): Uint8Array;
  /** Arms the instance's one timer wake-up (id is always 0): the host calls __stratus.fire(0) in `ms`. */
  timer(id: number, ms: number): void;
  /** Disarms the wake-up (no timer left). */
  clearTimer(id: number): void;
  /**
   * Delivers finished replies (src/runtime/protocol.ts), fire-and-forget; `taken`: the last batch
   * of requests was dispatched (the host may send the next).
   */
  done(frames: string, bodies: Uint8Array[], taken: boolean): void;
  /** Tells the host's watchdog that handlers of a long batch are returning (fire-and-forget). */
  progress(): void;
}

/** How a binding looks from inside: the host resolves the grant by name. */
type BindingDescriptor = { kind: "kv" } | { kind: "sql" } | { kind: "service" } | { kind: "egress" } | { kind: "publish" } | { kind: "var"; value: unknown };

let host: HostBridge | null = null;
const g = globalThis as unknown as Record<string, unknown>;
delete g["global"];
if (g["__stratus_sab_placeholder"]) {
  delete g["SharedArrayBuffer"];
  delete g["__stratus_sab_placeholder"];
}

function bridge(): HostBridge {
  if (!host) throw new Error("Stratus: the isolate is not initialised");
  return host;
}

class CodedError extends Error {
  code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
    this.name = "StratusError";
  }
}

async function io(op: string, args: unknown[], rid = current): Promise<unknown> {
  const [err, value] = await bridge().io(op, args, rid);
  enter(rid);
  if (err) throw new CodedError(err.code, err.message);
  return value;
}

// ---- console -------------------------------------------------------------------------------
function formatArg(v: unknown, depth = 0): string {
  // Logged values may be hostile (throwing getters, Proxies): a console call never throws for them.
  try {
    return formatArgUnguarded(v, depth);
  } catch {
    return "[a value that cannot be described (reading it threw)]";
  }
}
function formatArgUnguarded(v: unknown, depth: number): string {
  if (typeof v === "string") return depth === 0 ? v : JSON.stringify(v);
  if (v instanceof Error) return v.stack ?? `${v.name}: ${v.message}`;
  if (typeof v === "function") return `[Function ${v.name || "anonymous"}]`;
  if (typeof v === "bigint") return `${v}n`;
  if (typeof v === "symbol" || v === undefined) return String(v);
  if (v instanceof Headers) return `Headers ${JSON.stringify(Object.fromEntries(v))}`;
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === "bigint" ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}
// Each line crosses to the host, so what one instance may log is bounded here, before the
// crossing: lines are cut at MAX_LINE characters, and a token bucket allows LINES_PER_S lines and
// CHARS_PER_S characters per second (two seconds' worth at once). Lines past it are dropped and
// counted. The host applies the same caps at twice these rates (see src/telemetry/console-limit.ts).
const MAX_LINE = 16 * 1024;
const LINES_PER_S = 1000;
const CHARS_PER_S = 1024 * 1024;
const BURST_S = 2;
let lineBudget = LINES_PER_S * BURST_S;
let charBudget = CHARS_PER_S * BURST_S;
let budgetAt = Date.now();
let droppedLines = 0;
function emit(level: string, text: string): void {
  const line =
    text.length > MAX_LINE
      ? `${text.slice(0, MAX_LINE)}… [line truncated: ${text.length - MAX_LINE} more characters; console lines are cut at ${MAX_LINE}]`
      : text;
  const now = Date.now();
  const s = Math.max(0, now - budgetAt) / 1000;
  budgetAt = now;
  lineBudget = Math.min(LINES_PER_S * BURST_S, lineBudget + s * LINES_PER_S);
  charBudget = Math.min(CHARS_PER_S * BURST_S, charBudget + s * CHARS_PER_S);
  if (lineBudget < 1 || charBudget < line.length) {
    if (droppedLines++ === 0) {
      bridge().log("warn", `console output is over this instance's limit (${LINES_PER_S} lines or ${CHARS_PER_S} characters per second): dropping lines`);
    }
    return;
  }
  lineBudget -= 1;
  charBudget -= line.length;
  if (droppedLines > 0) {
    bridge().log(
      "warn",
      `${droppedLines} console line${droppedLines === 1 ? "" : "s"} dropped (over ${LINES_PER_S} lines or ${CHARS_PER_S} characters per second)`,
    );
    droppedLines = 0;
  }
  bridge().log(level, line);
}
function logger(level: string) {
  return (...args: unknown[]): void => emit(level, args.map((a) => formatArg(a)).join(" "));
}
const timersByLabel = new Map<string, number>();
const counts = new Map<string, number>();
const console = {
  log: logger("info"),
  info: logger("info"),
  debug: logger("debug"),
  warn: logger("warn"),
  error: logger("error"),
  trace: logger("debug"),
  dir: logger("info"),
  table: logger("info"),
  assert(condition?: unknown, ...args: unknown[]): void {
    if (!condition) logger("error")("Assertion failed", ...args);
  },
  time(label = "default"): void {
    timersByLabel.set(label, Date.now());
  },
  timeEnd(label = "default"): void {
    const t = timersByLabel.get(label);
    timersByLabel.delete(label);
    if (t !== undefined) logger("info")(`${label}: ${Date.now() - t} ms`);
  },
  count(label = "default"): void {
    const n = (counts.get(label) ?? 0) + 1;
    counts.set(label, n);
    logger("info")(`${label}: ${n}`);
  },
  group(): void {},
  groupEnd(): void {},
};

// ---- timers --------------------------------------------------------------------------------
// Timers live here, not on the host: the host keeps one wake-up per instance (the earliest due
// time), so a function's timer count costs the host nothing and every callback runs in this
// isolate, where limits.cpu sees it. The host drops them all (fire(-1)) when the instance has no
// request, event or waitUntil work in flight: like Workers, nothing outlives the work it served.
/** Live timers an instance may hold; setTimeout/setInterval past it throw STRATUS_E_TIMER_LIMIT. */
const MAX_TIMERS = 10_000;
/** `ctx`: the request that set the timer (its callback runs as that request, see `current`). */
const timers = new Map<number, { fn: (...a: unknown[]) => void; args: unknown[]; every: number; due: number; runs: number; ctx: number }>();
/** HTML's timer nesting clamp: past this many repeats an interval waits at least MIN_REPEAT_MS. */
const NESTING_LEVEL = 5;
const MIN_REPEAT_MS = 4;
/**
 * A timer's delay as HTML defines it: the argument is a WebIDL `long` (ToNumber, then NaN and
 * +-Infinity to 0, truncated and wrapped modulo 2^32 into a signed 32-bit integer), and a negative
 * delay is 0. So 2**31 and 3e9 wrap to negative and fire at once, as in browsers; the result is
 * never over 2^31-1, which Node's own timers accept without a TimeoutOverflowWarning.
 */
function timerDelay(ms: unknown): number {
  let n: number;
  try {
    n = Number(ms);
  } catch {
    n = 0;
  }
  return Math.max(0, n | 0);
}
let nextTimer = 1;
/** The due time the host's wake-up is armed for (Infinity: none). */
let wake = Infinity;
function armWake(due: number): void {
  if (due >= wake) return;
  wake = due;
  bridge().timer(0, Math.max(0, due - Date.now()));
}
function setTimer(fn: unknown, ms: unknown, args: unknown[], every: boolean): number {
  if (typeof fn !== "function") throw new TypeError("setTimeout/setInterval need a function");
  if (timers.size >= MAX_TIMERS) {
    throw new CodedError(
      "STRATUS_E_TIMER_LIMIT",
      `setTimeout/setInterval: this instance already has ${MAX_TIMERS} timers pending (the limit); clear the ones you no longer need with clearTimeout/clearInterval`,
    );
  }
  const id = nextTimer++;
  const delay = timerDelay(ms);
  const due = Date.now() + delay;
  timers.set(id, { fn: fn as (...a: unknown[]) => void, args, every: every ? delay : -1, due, runs: 0, ctx: current });
  armWake(due);
  return id;
}
function clearTimer(id: unknown): void {
  if (typeof id === "number" && timers.delete(id) && timers.size === 0) {
    wake = Infinity;
    bridge().clearTimer(0);
  }
}
/** The host's wake-up: runs the timers that are due (`now` >= 0), or drops every timer (`now` -1). */
function fireTimers(now: number): void {
  wake = Infinity;
  if (now < 0) {
    timers.clear();
    return;
  }
  const t = Date.now();
  const due = [...timers].filter(([, x]) => x.due <= t).sort((a, b) => a[1].due - b[1].due || a[0] - b[0]);
  for (const [id, x] of due) {
    // An earlier callback of this round may have cleared it.
    if (timers.get(id) !== x) continue;
    if (x.every < 0) timers.delete(id);
    else {
      // Each repeat is one nesting level deeper: past the fifth, HTML clamps the delay to 4 ms,
      // so a zero (or wrapped) interval cannot spin the host's wake-up every millisecond.
      x.runs++;
      x.due = Math.max(t, x.due) + (x.runs >= NESTING_LEVEL ? Math.max(MIN_REPEAT_MS, x.every) : x.every);
    }
    enter(x.ctx);
    try {
      x.fn(...x.args);
    } catch (e) {
      console.error("Uncaught error in timer callback:", e);
    } finally {
      enter(0);
    }
  }
  let next = Infinity;
  for (const x of timers.values()) if (x.due < next) next = x.due;
  if (next !== Infinity) armWake(next);
}

// ---- fetch and service calls ---------------------------------------------------------------
type Wire = [status: number, statusText: string, headers: string[], body: Uint8Array | null];

async function send(op: string, name: string | null, input: unknown, init: unknown, rid = current): Promise<Response> {
  const req = input instanceof Request && init === undefined ? input : new Request(input as string, init as undefined);
  const body = await bodyBytes(req);
  const [status, statusText, headers, out] = (await io(op, [name, req.method, req.url, req.headers._toFlat(), body], rid)) as Wire;
  const res = new Response(status === 204 || status === 304 ? null : out, { status, statusText, headers: Headers._fromFlat(headers) });
  return res;
}
function fetch(input: unknown, init?: unknown): Promise<Response> {
  return send("fetch", null, input, init);
}

// ---- bindings ------------------------------------------------------------------------------
type KvType = "text" | "json" | "arrayBuffer" | "stream" | "bytes";
function kvType(t: unknown): KvType {
  const type = (typeof t === "object" && t !== null ? (t as { type?: string }).type : t) ?? "text";
  if (!["text", "json", "arrayBuffer", "stream", "bytes"].includes(type as string)) {
    throw new CodedError("STRATUS_E_KV_ARGUMENT", `KV get: type must be "text", "json", "arrayBuffer" or "stream", got ${JSON.stringify(type)}`);
  }
  return type as KvType;
}
function kvDecode(bytes: Uint8Array | null, type: KvType): unknown {
  if (bytes === null) return null;
  switch (type) {
    case "text":
      return decoder.decode(bytes);
    case "json":
      return JSON.parse(decoder.decode(bytes));
    case "arrayBuffer":
      return bytes.slice().buffer;
    case "bytes":
      return bytes;
    case "stream":
      return new Response(bytes).body;
  }
}
async function kvValue(value: unknown): Promise<Uint8Array> {
  if (typeof value === "string") return encoder.encode(value);
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return toBytes(value).slice();
  if (value instanceof ReadableStream) return new Response(value).bytes();
  throw new CodedError(
    "STRATUS_E_KV_ARGUMENT",
    `KV put: value must be a string, ArrayBuffer, typed array or ReadableStream, got ${value === null ? "null" : typeof value}; JSON.stringify objects first`,
  );
}
function kvBinding(name: string) {
  return {
    async get(key: string, type?: unknown): Promise<unknown> {
      const t = kvType(type);
      const r = (await io("kv.get", [name, key])) as [Uint8Array, string | null] | null;
      return kvDecode(r ? r[0] : null, t);
    },
    async getWithMetadata(key: string, type?: unknown): Promise<{ value: unknown; metadata: unknown }> {
      const t = kvType(type);
      const r = (await io("kv.get", [name, key])) as [Uint8Array, string | null] | null;
      return { value: kvDecode(r ? r[0] : null, t), metadata: r && r[1] ? JSON.parse(r[1]) : null };
    },
    async put(key: string, value: unknown, options?: { expirationTtl?: number; expiration?: number; metadata?: unknown }): Promise<void> {
      const bytes = await kvValue(value);
      await io("kv.put", [
        name,
        key,
        bytes,
        options?.expirationTtl ?? null,
        options?.expiration ?? null,
        options?.metadata === undefined ? null : JSON.stringify(options.metadata),
      ]);
    },
    async delete(key: string): Promise<void> {
      await io("kv.delete", [name, key]);
    },
    async list(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<unknown> {
      return io("kv.list", [name, options?.prefix ?? "", options?.cursor ?? null, options?.limit ?? 1000]);
    },
  };
}

type SqlValue = null | number | string | bigint | Uint8Array;
function sqlParam(v: unknown, i: number): SqlValue {
  if (v === null || typeof v === "number" || typeof v === "string" || typeof v === "bigint") return v;
  if (v === undefined) throw new CodedError("STRATUS_E_SQL", `bind(): parameter ${i + 1} is undefined; pass null for SQL NULL`);
  if (typeof v === "boolean") return v ? 1 : 0;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return toBytes(v).slice();
  throw new CodedError("STRATUS_E_SQL", `bind(): parameter ${i + 1} is a ${typeof v}; use null, a number, string, boolean or bytes`);
}
class PreparedStatement {
  readonly _name: string;
  readonly _sql: string;
  readonly _params: SqlValue[];
  constructor(name: string, sql: string, params: SqlValue[] = []) {
    this._name = name;
    this._sql = sql;
    this._params = params;
  }
  bind(...values: unknown[]): PreparedStatement {
    return new PreparedStatement(this._name, this._sql, values.map(sqlParam));
  }
  async first(column?: string): Promise<unknown> {
    const r = (await io("sql.query", [this._name, this._sql, this._params, "first"])) as { results: Record<string, unknown>[] };
    const row = r.results[0] ?? null;
    if (column === undefined || row === null) return row;
    if (!(column in row)) throw new CodedError("STRATUS_E_SQL", `first("${column}"): the result has no column "${column}"`);
    return row[column];
  }
  async all(): Promise<unknown> {
    return io("sql.query", [this._name, this._sql, this._params, "all"]);
  }
  async run(): Promise<unknown> {
    return io("sql.query", [this._name, this._sql, this._params, "run"]);
  }
  async raw(options?: { columnNames?: boolean }): Promise<unknown[][]> {
    const r = (await io("sql.query", [this._name, this._sql, this._params, "raw"])) as { columns: string[]; rows: unknown[][] };
    return options?.columnNames ? [r.columns, ...r.rows] : r.rows;
  }
}
function sqlBinding(name: string) {
  return {
    prepare(sql: string): PreparedStatement {
      if (typeof sql !== "string") throw new CodedError("STRATUS_E_SQL", "prepare(): the query must be a string");
      return new PreparedStatement(name, sql);
    },
    async batch(statements: PreparedStatement[]): Promise<unknown[]> {
      if (!Array.isArray(statements) || statements.some((s) => !(s instanceof PreparedStatement) || s._name !== name)) {
        throw new CodedError("STRATUS_E_SQL", "batch(): pass an array of statements made by this database's prepare()");
      }
      return (await io("sql.batch", [name, statements.map((s) => [s._sql, s._params])])) as unknown[];
    },
    async exec(sql: string): Promise<unknown> {
      return io("sql.exec", [name, String(sql)]);
    },
  };
}

function publisher(name: string, rid?: number) {
  return {
    /** Publishes `data` (JSON-serialisable) to `topic`; resolves once the event is durable. */
    async publish(
      topic: string,
      data?: unknown,
      options?: { key?: string; id?: string; subject?: string },
    ): Promise<{ id: string; seq: number; duplicate: boolean }> {
      if (typeof topic !== "string") throw new CodedError("STRATUS_E_EVENT_INVALID", "publish(topic, data): topic must be a string");
      let json: string | undefined;
      try {
        json = data === undefined ? undefined : JSON.stringify(data);
      } catch (e) {
        throw new CodedError("STRATUS_E_EVENT_INVALID", `publish("${topic}"): data cannot be serialised as JSON: ${String((e as Error).message)}`);
      }
      const o = options ?? {};
      const r = (await io("publish", [name, topic, json ?? null, o.key ?? null, o.id ?? null, o.subject ?? null], rid ?? current)) as [string, number, boolean];
      return { id: r[0], seq: r[1], duplicate: r[2] };
    },
  };
}

function serviceBinding(name: string, rid?: number) {
  return Object.freeze({ fetch: (input: unknown, init?: unknown) => send("service", name, input, init, rid) });
}

function buildEnv(descriptors: Record<string, BindingDescriptor>): Record<string, unknown> {
  const env: Record<string, unknown> = {};
  perRequest = [];
  for (const [name, d] of Object.entries(descriptors)) {
    if (d.kind === "var") env[name] = d.value;
    else if (d.kind === "kv") env[name] = Object.freeze(kvBinding(name));
    else if (d.kind === "sql") env[name] = Object.freeze(sqlBinding(name));
    else if (d.kind === "egress") env[name] = Object.freeze({ fetch: (input: unknown, init?: unknown) => send("fetch", name, input, init) });
    else if (d.kind === "service" || d.kind === "publish") {
      perRequest.push([name, d.kind]);
      env[name] = d.kind === "service" ? serviceBinding(name) : Object.freeze(publisher(name));
    }
  }
  return Object.freeze(env);
}

/** Service and publish bindings that carry their request's id (calls the host attributes to it). */
let perRequest: [string, "service" | "publish"][] = [];

/**
 * The env a request's handler gets: service and publish bindings bound to the request's id, so
 * the calls made through them are attributed to it wherever they happen (the host checks the id is
 * in flight). A service without such bindings shares one env between all requests.
 */
function envFor(rid: number): Record<string, unknown> {
  if (perRequest.length === 0) return env;
  const e: Record<string, unknown> = { ...env };
  for (const [name, kind] of perRequest) e[name] = kind === "service" ? serviceBinding(name, rid) : Object.freeze(publisher(name, rid));
  return Object.freeze(e);
}

// ---- the module and the dispatcher ---------------------------------------------------------
interface Handlers {
  fetch?(request: Request, env: unknown, ctx: unknown): unknown;
  event?(event: unknown, env: unknown, ctx: unknown): unknown;
  scheduled?(controller: unknown, env: unknown, ctx: unknown): unknown;
}
let handlers: Handlers | null = null;
let env: Record<string, unknown> = {};
/** Streamed bodies being pulled by the host, with the request each answers (its pulls run as it). */
const streams = new Map<number, { reader: ReadableStreamDefaultReader<unknown>; ctx: number }>();
let nextStream = 1;

/** A response as dispatch leaves it, before it is framed. */
interface Reply {
  status: number;
  waits: number;
  stream: number;
  bytes: Uint8Array | null;
  statusText: string;
  flat: string[];
  text: string;
}

/**
 * Reads `read()` of a thrown value, which may be hostile (a getter or a Proxy trap that throws,
 * a toString that throws): any exception while describing it becomes `fallback`.
 */
function guarded<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

const UNDESCRIBABLE = "threw a value that cannot be described (reading it threw)";

/**
 * The code and message of a thrown value. Never throws, whatever was thrown: every property read
 * and string conversion is guarded, so a request always gets its reply at once.
 */
function errorInfo(e: unknown): { code: string; message: string } {
  if (e && typeof e === "object") {
    const o = e as { code?: unknown; message?: unknown; stack?: unknown; name?: unknown };
    const stack = guarded(() => o.stack, undefined);
    const message =
      typeof stack === "string"
        ? stack
        : guarded(
            () => `${String(o.name ?? "Error")}: ${String(o.message ?? e)}`,
            guarded(() => `Error: ${String(o.message)}`, UNDESCRIBABLE),
          );
    const code = guarded(() => o.code, undefined);
    // Only a code of the platform's shape crosses (the host then checks it is a real one); any
    // other is the function's own and is kept in the message.
    if (typeof code === "string" && /^STRATUS_E_[A-Z0-9_]{1,54}$/.test(code)) return { code, message };
    return {
      code: "STRATUS_E_HANDLER_THREW",
      message: typeof code === "string" && code.startsWith("STRATUS_E_") ? `${code.slice(0, 64)}: ${message}` : message,
    };
  }
  return { code: "STRATUS_E_HANDLER_THREW", message: `threw a non-Error value: ${guarded(() => formatArg(e), UNDESCRIBABLE)}` };
}

/** The host-facing surface. */
const api = {
  /**
   * Takes the host callbacks (one crossing, before any user code runs), bounds wasm memory by the
   * instance's memory limit, and builds env from the descriptors (JSON).
   */
  init(
    descriptorsJson: string,
    wasmLimit: number,
    log: (level: string, text: string, rid: number) => void,
    ioRef: { apply(t: undefined, a: unknown[], o: unknown): Promise<[{ code: string; message: string } | null, unknown]> },
    random: (n: number) => Uint8Array,
    timer: (id: number, ms: number) => void,
    clear: (id: number) => void,
    done: (frames: string, bodies: Uint8Array[], taken: boolean) => void,
    progress: () => void,
    lazy: (name: string) => string | null,
  ): void {
    startClock();
    (g["__stratus_wasm_limit"] as (bytes: number) => void)(wasmLimit);
    setLazyLoader(lazy);
    const ioOptions = { arguments: { copy: true }, result: { promise: true } };
    host = {
      log: (level, text) => log(level, text, current),
      io: (op, args, rid) => ioRef.apply(undefined, [op, args, rid], ioOptions),
      random,
      timer,
      clearTimer: clear,
      done,
      progress,
    };
    env = buildEnv(JSON.parse(descriptorsJson) as Record<string, BindingDescriptor>);
  },
  /** Checks the loaded module has the handlers the stack needs (`needs`: fetch, event, scheduled); returns null or an error message. */
  load(needs: string[]): string | null {
    const mod = g["__stratus_module"] as { default?: unknown } | undefined;
    g["__stratus_module"] = undefined;
    const d = mod?.default as Record<string, unknown> | undefined;
    if (!d || typeof d !== "object") return "the module has no default export; write `export default { async fetch(request, env, ctx) { ... } }`";
    const why: Record<string, string> = {
      fetch: 'it has routes, but the default export has no fetch() method; add `async fetch(request, env, ctx) { return new Response("ok") }`',
      event: "it subscribes to topics, but the default export has no event() method; add `async event(event, env, ctx) { ... }`",
      scheduled: "it has schedules, but the default export has no scheduled() method; add `async scheduled(controller, env, ctx) { ... }`",
    };
    for (const n of needs) if (typeof d[n] !== "function") return why[n] ?? `the default export has no ${n}() method`;
    if (typeof d["fetch"] !== "function" && typeof d["event"] !== "function" && typeof d["scheduled"] !== "function") {
      return 'the default export has no handler; add `async fetch(request, env, ctx) { return new Response("ok") }`';
    }
    handlers = d;
    return null;
  },
  /**
   * One request in, one reply out. Everything crosses as strings (copying structured values costs
   * more than the request itself): headers are "name\nvalue\n..."; params are JSON. Resolves with
   * the Reply to frame, or an "E" payload. `rid` is the host's id of the request.
   */
  async dispatch(rid: number, method: string, url: string, head: string, body: Uint8Array | null, params: string | null): Promise<Reply | string> {
    const waits: Promise<unknown>[] = [];
    const ctx = {
      params: params === null ? {} : (JSON.parse(params) as Record<string, string>),
      waitUntil(p: unknown): void {
        waits.push(Promise.resolve(p).catch((e: unknown) => console.error("waitUntil promise rejected:", e)));
      },
      passThroughOnException(): void {},
    };
    let res: unknown;
    try {
      if (!handlers!.fetch)
        return encodeError("STRATUS_E_NO_HANDLER", "this service has no fetch() handler; add `async fetch(request, env, ctx)` to its default export");
      let out: unknown;
      enter(rid);
      try {
        out = handlers!.fetch(Request._fromHost(method, url, head === "" ? [] : head.split("\n"), body), envFor(rid), ctx);
      } finally {
        enter(0);
      }
      res = await out;
    } catch (e) {
      const info = errorInfo(e);
      return encodeError(info.code, info.message);
    }
    if (!(res instanceof Response)) {
      const what =
        res === undefined
          ? "undefined (did you forget `return`?)"
          : res === null
            ? "null"
            : typeof res === "object"
              ? `an object that is not a Response (${formatArg(res).slice(0, 60)})`
              : `a ${typeof res}`;
      return encodeError("STRATUS_E_BAD_RESPONSE", `fetch() returned ${what}; return a Response, e.g. new Response("ok") or Response.json(data)`);
    }
    const raw = res._raw;
    const reply: Reply = { status: res.status, waits: waits.length, stream: 0, bytes: null, statusText: res.statusText, flat: res.headers._toFlat(), text: "" };
    if (raw instanceof ReadableStream) {
      reply.stream = nextStream++;
      streams.set(reply.stream, { reader: raw.getReader(), ctx: rid });
    } else if (typeof raw === "string") reply.text = raw;
    // A view of a larger buffer would carry the whole buffer across.
    else if (raw !== null) reply.bytes = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength ? raw : raw.slice();
    if (waits.length > 0) {
      const w = Promise.all(waits).then(() => undefined);
      pending.add(w);
      void w.then(() => pending.delete(w));
    }
    return reply;
  },
  /**
   * Starts a batch of body-less requests the host collected in one turn of its event loop
   * (protocol.ts encodeRequest). Replies go back through host.done, batched per microtask turn, so
   * many requests share one crossing each way.
   */
  dispatchBatch(batch: string): void {
    let last = Date.now();
    collecting = true;
    try {
      decodeRequests(batch, (id, method, url, head, params) => {
        api.dispatchOne(id, method, url, head, null, params);
        last = progressed(last);
      });
    } catch (e) {
      collecting = false;
      throw e;
    }
    // The replies of handlers that answer without waiting on I/O are ready a few microtask turns
    // later: they cross back together with the word that this batch was taken (the host then sends
    // the requests that arrived meanwhile). A microtask chain that spins does not hold them back:
    // these turns take their places in the queue beside it.
    let turns = Promise.resolve();
    for (let i = 0; i < REPLY_TURNS; i++) turns = turns.then(noop);
    void turns.then(() => {
      collecting = false;
      flushOutbox(true);
    });
  },
  /** Starts one request; its reply goes back through host.done. */
  dispatchOne(id: number, method: string, url: string, head: string, body: Uint8Array | null, params: string | null): void {
    api.dispatch(id, method, url, head, body, params).then(
      (r) => {
        if (typeof r === "string") return reply(id, r, null);
        reply(id, encodeResponse(r.status, r.waits, r.stream, r.bytes ? replyBodies.length + 1 : 0, r.statusText, r.flat, r.text), r.bytes);
      },
      (e: unknown) => {
        // Reading the Response threw (a getter, a replaced built-in): the request fails, not the batch.
        const info = errorInfo(e);
        reply(id, encodeError(info.code, info.message), null);
      },
    );
  },
  /**
   * Runs non-HTTP work and replies through host.done like a request: kind "event" gets
   * {timeout, events: [CloudEvent...]} and runs every event's handler at once (the host never puts
   * two events of one ordering key in a batch), replying with a "T" payload of one outcome per event;
   * kind "scheduled" gets {timeout, cron, scheduledTime}.
   */
  dispatchTask(id: number, kind: string, payload: string): void {
    let work: Promise<string>;
    enter(id);
    try {
      work = runTask(id, kind, payload);
    } finally {
      enter(0);
    }
    work.then(
      (r) => reply(id, r, null),
      (e: unknown) => {
        const info = errorInfo(e);
        reply(id, encodeError(info.code, info.message), null);
      },
    );
  },
  /** The next chunk of a streamed response body, or null at its end. */
  async pull(id: number): Promise<Uint8Array | null> {
    enter(0);
    const s = streams.get(id);
    if (!s) return null;
    try {
      // The stream's source code (its pull, its awaits) runs as the request whose body it is.
      enter(s.ctx);
      let read: ReturnType<typeof s.reader.read>;
      try {
        read = s.reader.read();
      } finally {
        enter(0);
      }
      const { done, value } = await read;
      if (done) {
        streams.delete(id);
        return null;
      }
      return toBytes(value);
    } catch (e) {
      streams.delete(id);
      throw e;
    }
  },
  /** Stops reading a streamed body (the client went away). */
  cancel(id: number): void {
    enter(0);
    const s = streams.get(id);
    streams.delete(id);
    if (s) void within(s.ctx, () => s.reader.cancel().catch(() => undefined), undefined);
  },
  /** Resolves when every ctx.waitUntil promise so far has settled. */
  async settle(): Promise<void> {
    enter(0);
    while (pending.size > 0) await Promise.all([...pending]);
  },
  /** The host's timer wake-up (see fireTimers). */
  fire(now: number): void {
    enter(0);
    fireTimers(now);
  },
};
const pending = new Set<Promise<void>>();

type Outcome = TaskOutcomeWire;

function failure(e: unknown): Outcome {
  const info = errorInfo(e);
  const permanent = e !== null && typeof e === "object" && guarded(() => (e as { permanent?: unknown }).permanent === true, false);
  return [1, info.code, info.message, permanent];
}

/** Runs `fn` with ctx.waitUntil, bounded by `timeout` ms; the outcome once it and its waitUntil work settle. */
async function runBounded(timeout: number, fn: (ctx: unknown) => unknown): Promise<Outcome> {
  const waits: Promise<unknown>[] = [];
  const ctx = {
    waitUntil(p: unknown): void {
      waits.push(Promise.resolve(p).catch((e: unknown) => console.error("waitUntil promise rejected:", e)));
    },
    passThroughOnException(): void {},
  };
  let timer = 0;
  const expired = new Promise<Outcome>((resolve) => {
    // Clamped, not wrapped: a limits.timeout over 2^31-1 ms must not become 0 the way a user's delay would.
    timer = setTimer(
      () => resolve([1, "STRATUS_E_TIMEOUT", `did not finish within ${timeout} ms (limits.timeout)`, false]),
      Math.min(2_147_483_647, timeout),
      [],
      false,
    );
  });
  const work = (async (): Promise<Outcome> => {
    try {
      await fn(ctx);
      await Promise.all(waits);
      return [0];
    } catch (e) {
      return failure(e);
    }
  })();
  const out = await Promise.race([work, expired]);
  clearTimer(timer);
  return out;
}

async function runTask(id: number, kind: string, payload: string): Promise<string> {
  const p = JSON.parse(payload) as { timeout: number; events?: unknown[]; cron?: string; scheduledTime?: number };
  const hs = handlers!;
  if (kind === "event") {
    const events = p.events ?? [];
    if (typeof hs.event !== "function") return encodeTask(events.map((): Outcome => [1, "STRATUS_E_NO_HANDLER", "this service has no event() handler", true]));
    const e = envFor(id);
    let last = Date.now();
    const runs = events.map((ev) => {
      const run = runBounded(p.timeout, (ctx) => hs.event!(ev, e, ctx));
      last = progressed(last);
      return run;
    });
    return encodeTask(await Promise.all(runs));
  }
  if (typeof hs.scheduled !== "function") return encodeTask([[1, "STRATUS_E_NO_HANDLER", "this service has no scheduled() handler", true]]);
  const controller = Object.freeze({ type: "scheduled", cron: p.cron, scheduledTime: p.scheduledTime, noRetry(): void {} });
  const e = envFor(id);
  return encodeTask([await runBounded(p.timeout, (ctx) => hs.scheduled!(controller, e, ctx))]);
}

/**
 * The handlers of a batch start one after another in one synchronous run, and their replies cross
 * only after it: a batch of CPU-heavy handlers would look to the host's watchdog like one request
 * spinning past limits.cpu. Every PROGRESS_MS of such a run, the host hears that handlers are
 * returning (a handler that never returns sends nothing, so a spinning one is still stopped).
 */
const PROGRESS_MS = 10;
function progressed(last: number): number {
  const t = Date.now();
  if (t - last < PROGRESS_MS) return last;
  bridge().progress();
  return t;
}

// Replies finished in one microtask turn cross together: frames as one string, bytes bodies beside.
let replyFrames: string[] = [];
let replyBodies: Uint8Array[] = [];
let flushing = false;
/** Set while dispatchBatch gathers the replies that go back as its result. */
let collecting = false;
/** Microtask turns dispatchBatch waits for replies (a handler's answer takes two or three). */
const REPLY_TURNS = 8;
const noop = (): void => undefined;
function reply(id: number, payload: string, bytes: Uint8Array | null): void {
  replyFrames.push(encodeFrame(id, payload));
  if (bytes) replyBodies.push(bytes);
  if (!flushing && !collecting) {
    flushing = true;
    void Promise.resolve().then(() => flushOutbox());
  }
}
function flushOutbox(taken = false): void {
  flushing = false;
  const frames = replyFrames.join("");
  const bodies = replyBodies;
  replyFrames = [];
  replyBodies = [];
  bridge().done(frames, bodies, taken);
}

setCryptoHost({ random: (n) => bridge().random(n), subtle: (op, args) => io("subtle", [op, args]) });
setEventClock(now);

const globals: Record<string, unknown> = {
  self: globalThis,
  console,
  fetch,
  crypto,
  Crypto,
  CryptoKey,
  SubtleCrypto,
  atob,
  btoa,
  structuredClone,
  DOMException,
  TextEncoder,
  TextDecoder,
  TextEncoderStream,
  TextDecoderStream,
  setTimeout: (fn: unknown, ms?: unknown, ...args: unknown[]) => setTimer(fn, ms, args, false),
  setInterval: (fn: unknown, ms?: unknown, ...args: unknown[]) => setTimer(fn, ms, args, true),
  clearTimeout: clearTimer,
  clearInterval: clearTimer,
  queueMicrotask: (fn: () => void) => void Promise.resolve().then(fn),
  performance,
  Performance,
  navigator: { userAgent: "Stratus" },
  AbortController,
  AbortSignal,
  Event,
  EventTarget,
  CustomEvent,
  Blob,
  File,
  FormData,
  Headers,
  Request,
  Response,
  URL,
  URLSearchParams,
  ReadableStream,
  WritableStream,
  TransformStream,
  ByteLengthQueuingStrategy,
  CountQueuingStrategy,
  __stratus: api,
};
for (const [k, v] of Object.entries(globals)) {
  Object.defineProperty(globalThis, k, { value: v, writable: true, configurable: true, enumerable: false });
}
