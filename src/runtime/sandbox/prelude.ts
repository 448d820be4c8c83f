// Sandbox code: bundled by esbuild into the script every isolate starts from (a V8 startup
// snapshot where possible). Never loaded by Node; it sees only what the host hands to __stratus_init.
/**
 * The isolate's global scope: Web APIs, console, timers, crypto, fetch, the env bindings and the
 * dispatcher the host calls once per request.
 */
import "./global-shim.ts";
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
import { structuredClone } from "./clone.ts";
import { AbortController, AbortSignal } from "./abort.ts";
import { CustomEvent, Event, EventTarget, setEventClock } from "./events.ts";
import { DOMException } from "./dom-exception.ts";
import { atob, btoa } from "./base64.ts";
import { Crypto, CryptoKey, SubtleCrypto, crypto, setCryptoHost } from "./crypto.ts";
import { now, performance, startClock } from "./performance.ts";
import { Headers, Request, Response, bodyBytes, encoder, decoder, toBytes } from "./web.ts";
import { Blob, File, FormData } from "./form.ts";

/** What the host hands in: callbacks that cross the boundary. */
interface HostBridge {
  /** Fire-and-forget log line. */
  log(level: string, text: string): void;
  /** Asynchronous I/O; resolves to [error, value] so codes survive the crossing. */
  io(op: string, args: unknown[]): Promise<[{ code: string; message: string } | null, unknown]>;
  /** Synchronous random bytes from the host's CSPRNG. */
  random(n: number): Uint8Array;
  /** Arms a timer; the host calls __stratus.fire(id) when it is due. */
  timer(id: number, ms: number): void;
  /** Disarms a timer. */
  clearTimer(id: number): void;
  /** Delivers finished replies: ("id\x01length\x01reply")*, fire-and-forget. */
  done(batch: string): void;
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

async function io(op: string, args: unknown[]): Promise<unknown> {
  const [err, value] = await bridge().io(op, args);
  if (err) throw new CodedError(err.code, err.message);
  return value;
}

// ---- console -------------------------------------------------------------------------------
function formatArg(v: unknown, depth = 0): string {
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
function logger(level: string) {
  return (...args: unknown[]): void => bridge().log(level, args.map((a) => formatArg(a)).join(" "));
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
const timers = new Map<number, { fn: (...a: unknown[]) => void; args: unknown[]; every: number }>();
let nextTimer = 1;
function setTimer(fn: unknown, ms: unknown, args: unknown[], every: boolean): number {
  if (typeof fn !== "function") throw new TypeError("setTimeout/setInterval need a function");
  const id = nextTimer++;
  const delay = Math.max(0, Number(ms) || 0);
  timers.set(id, { fn: fn as (...a: unknown[]) => void, args, every: every ? Math.max(1, delay) : -1 });
  bridge().timer(id, delay);
  return id;
}
function clearTimer(id: unknown): void {
  if (typeof id === "number" && timers.delete(id)) bridge().clearTimer(id);
}

// ---- fetch and service calls ---------------------------------------------------------------
type Wire = [status: number, statusText: string, headers: string[], body: Uint8Array | null];

async function send(op: string, name: string | null, input: unknown, init: unknown): Promise<Response> {
  const req = input instanceof Request && init === undefined ? input : new Request(input as string, init as undefined);
  const body = await bodyBytes(req);
  const [status, statusText, headers, out] = (await io(op, [name, req.method, req.url, req.headers._toFlat(), body])) as Wire;
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

function publisher(name: string) {
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
      const r = (await io("publish", [name, topic, json ?? null, o.key ?? null, o.id ?? null, o.subject ?? null])) as [string, number, boolean];
      return { id: r[0], seq: r[1], duplicate: r[2] };
    },
  };
}

function buildEnv(descriptors: Record<string, BindingDescriptor>): Record<string, unknown> {
  const env: Record<string, unknown> = {};
  for (const [name, d] of Object.entries(descriptors)) {
    if (d.kind === "var") env[name] = d.value;
    else if (d.kind === "kv") env[name] = Object.freeze(kvBinding(name));
    else if (d.kind === "sql") env[name] = Object.freeze(sqlBinding(name));
    else if (d.kind === "service") env[name] = Object.freeze({ fetch: (input: unknown, init?: unknown) => send("service", name, input, init) });
    else if (d.kind === "egress") env[name] = Object.freeze({ fetch: (input: unknown, init?: unknown) => send("fetch", name, input, init) });
    else if (d.kind === "publish") env[name] = Object.freeze(publisher(name));
  }
  return Object.freeze(env);
}

// ---- the module and the dispatcher ---------------------------------------------------------
interface Handlers {
  fetch?(request: Request, env: unknown, ctx: unknown): unknown;
  event?(event: unknown, env: unknown, ctx: unknown): unknown;
  scheduled?(controller: unknown, env: unknown, ctx: unknown): unknown;
}
let handlers: Handlers | null = null;
let env: Record<string, unknown> = {};
const streams = new Map<number, ReadableStreamDefaultReader<unknown>>();
const bodies = new Map<number, Uint8Array>();
let nextStream = 1;

function errorInfo(e: unknown): { code: string; message: string } {
  if (e && typeof e === "object") {
    const o = e as { code?: unknown; message?: unknown; stack?: unknown; name?: unknown };
    const message = typeof o.stack === "string" ? o.stack : `${String(o.name ?? "Error")}: ${String(o.message ?? e)}`;
    return { code: typeof o.code === "string" && o.code.startsWith("STRATUS_E_") ? o.code : "STRATUS_E_HANDLER_THREW", message };
  }
  return { code: "STRATUS_E_HANDLER_THREW", message: `threw a non-Error value: ${formatArg(e)}` };
}

/** The host-facing surface. */
const api = {
  /** Takes the host callbacks off the global scope (where the host put them) and builds env. */
  init(descriptors: Record<string, BindingDescriptor>): void {
    startClock();
    const take = <T>(name: string): T => {
      const v = g[name] as T;
      delete g[name];
      return v;
    };
    const log = take<(level: string, text: string) => void>("__h_log");
    const ioRef = take<{ apply(t: undefined, a: unknown[], o: unknown): Promise<[{ code: string; message: string } | null, unknown]> }>("__h_io");
    const random = take<(n: number) => Uint8Array>("__h_random");
    const timer = take<(id: number, ms: number) => void>("__h_timer");
    const clear = take<(id: number) => void>("__h_clear");
    const done = take<(batch: string) => void>("__h_done");
    const ioOptions = { arguments: { copy: true }, result: { promise: true } };
    host = {
      log,
      io: (op, args) => ioRef.apply(undefined, [op, args], ioOptions),
      random,
      timer,
      clearTimer: clear,
      done,
    };
    env = buildEnv(descriptors);
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
   * more than the request itself): headers are "name\nvalue\n..."; params are JSON. The reply is
   * "R\nstatus\nwaits\nstreamId\nbytesId\nstatusText\ncount\nname\nvalue...\nbody" or
   * "E\ncode\nmessage". A bytes body is fetched with take(bytesId), a stream with pull(streamId).
   */
  async dispatch(method: string, url: string, head: string, body: Uint8Array | null, params: string | null): Promise<string> {
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
      if (!handlers!.fetch) return "E\nSTRATUS_E_NO_HANDLER\nthis service has no fetch() handler; add `async fetch(request, env, ctx)` to its default export";
      res = await handlers!.fetch(Request._fromHost(method, url, head === "" ? [] : head.split("\n"), body), env, ctx);
    } catch (e) {
      const info = errorInfo(e);
      return `E\n${info.code}\n${info.message}`;
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
      return `E\nSTRATUS_E_BAD_RESPONSE\nfetch() returned ${what}; return a Response, e.g. new Response("ok") or Response.json(data)`;
    }
    const raw = res._raw;
    let text = "";
    let stream = 0;
    let bytes = 0;
    if (raw instanceof ReadableStream) {
      stream = nextStream++;
      streams.set(stream, raw.getReader());
    } else if (typeof raw === "string") text = raw;
    else if (raw !== null) {
      bytes = nextStream++;
      bodies.set(bytes, raw);
    }
    if (waits.length > 0) {
      const w = Promise.all(waits).then(() => undefined);
      pending.add(w);
      void w.then(() => pending.delete(w));
    }
    const flat = res.headers._toFlat();
    return `R\n${res.status}\n${waits.length}\n${stream}\n${bytes}\n${res.statusText}\n${flat.length / 2}\n${flat.length > 0 ? `${flat.join("\n")}\n` : ""}${text}`;
  },
  /**
   * Starts a batch of body-less requests the host collected in one turn of its event loop:
   * ("id,mLen,uLen,hLen,pLen;" method url head params)*; pLen -1 means no params. Replies go back
   * through host.done, batched per microtask turn, so many requests share one crossing each way.
   */
  dispatchBatch(batch: string): void {
    let at = 0;
    while (at < batch.length) {
      const semi = batch.indexOf(";", at);
      const [id, ml, ul, hl, pl] = batch.slice(at, semi).split(",").map(Number) as [number, number, number, number, number];
      let p = semi + 1;
      const method = batch.slice(p, (p += ml));
      const url = batch.slice(p, (p += ul));
      const head = batch.slice(p, (p += hl));
      const params = pl < 0 ? null : batch.slice(p, (p += pl));
      at = p;
      api.dispatchOne(id, method, url, head, null, params);
    }
  },
  /** Starts one request; its reply goes back through host.done. */
  dispatchOne(id: number, method: string, url: string, head: string, body: Uint8Array | null, params: string | null): void {
    void api.dispatch(method, url, head, body, params).then((reply) => {
      outbox.push(`${id}\x01${reply.length}\x01${reply}`);
      if (!flushing) {
        flushing = true;
        void Promise.resolve().then(flushOutbox);
      }
    });
  },
  /**
   * Runs non-HTTP work and replies through host.done like a request: kind "event" gets
   * {timeout, events: [CloudEvent...]} and runs every event's handler at once (the host never puts
   * two events of one ordering key in a batch), replying "T\n" + JSON [[0] | [1, code, message, permanent]];
   * kind "scheduled" gets {timeout, cron, scheduledTime}.
   */
  dispatchTask(id: number, kind: string, payload: string): void {
    void runTask(kind, payload).then((reply) => {
      outbox.push(`${id}\x01${reply.length}\x01${reply}`);
      if (!flushing) {
        flushing = true;
        void Promise.resolve().then(flushOutbox);
      }
    });
  },
  /** A bytes body left by dispatch. */
  take(id: number): Uint8Array | null {
    const b = bodies.get(id) ?? null;
    bodies.delete(id);
    return b;
  },
  /** The next chunk of a streamed response body, or null at its end. */
  async pull(id: number): Promise<Uint8Array | null> {
    const reader = streams.get(id);
    if (!reader) return null;
    try {
      const { done, value } = await reader.read();
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
    const reader = streams.get(id);
    streams.delete(id);
    if (reader) void reader.cancel().catch(() => undefined);
  },
  /** Resolves when every ctx.waitUntil promise so far has settled. */
  async settle(): Promise<void> {
    while (pending.size > 0) await Promise.all([...pending]);
  },
  fire(id: number): void {
    const t = timers.get(id);
    if (!t) return;
    if (t.every < 0) timers.delete(id);
    else bridge().timer(id, t.every);
    try {
      t.fn(...t.args);
    } catch (e) {
      console.error("Uncaught error in timer callback:", e);
    }
  },
};
const pending = new Set<Promise<void>>();

type Outcome = [0] | [1, string, string, boolean];

function failure(e: unknown): Outcome {
  const info = errorInfo(e);
  const permanent = Boolean(e && typeof e === "object" && (e as { permanent?: unknown }).permanent === true);
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
    timer = setTimer(() => resolve([1, "STRATUS_E_TIMEOUT", `did not finish within ${timeout} ms (limits.timeout)`, false]), timeout, [], false);
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

async function runTask(kind: string, payload: string): Promise<string> {
  const p = JSON.parse(payload) as { timeout: number; events?: unknown[]; cron?: string; scheduledTime?: number };
  const hs = handlers!;
  if (kind === "event") {
    const events = p.events ?? [];
    if (typeof hs.event !== "function")
      return `T\n${JSON.stringify(events.map(() => [1, "STRATUS_E_NO_HANDLER", "this service has no event() handler", true]))}`;
    const outs = await Promise.all(events.map((ev) => runBounded(p.timeout, (ctx) => hs.event!(ev, env, ctx))));
    return `T\n${JSON.stringify(outs)}`;
  }
  if (typeof hs.scheduled !== "function") return `T\n${JSON.stringify([[1, "STRATUS_E_NO_HANDLER", "this service has no scheduled() handler", true]])}`;
  const controller = Object.freeze({ type: "scheduled", cron: p.cron, scheduledTime: p.scheduledTime, noRetry(): void {} });
  return `T\n${JSON.stringify([await runBounded(p.timeout, (ctx) => hs.scheduled!(controller, env, ctx))])}`;
}
let outbox: string[] = [];
let flushing = false;
function flushOutbox(): void {
  flushing = false;
  const batch = outbox.join("");
  outbox = [];
  bridge().done(batch);
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
