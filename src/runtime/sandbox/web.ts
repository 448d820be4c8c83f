// Sandbox code: compiled into the isolate prelude, never loaded by Node.
/**
 * Headers, Request, Response and body handling as a Workers-style module expects them. They live
 * inside the isolate so a request crosses the boundary once in and once out. Hand-written because
 * the well-kept polyfills (whatwg-fetch) have no stream bodies, which response streaming needs.
 */
import type { ReadableStream } from "web-streams-polyfill";
import { isReadableStream, streams } from "./streams.ts";
import { Blob, FormData, encodeMultipart, idl, parseFormData, utf8Decode } from "./form.ts";

const encoder = new TextEncoder();
/** UTF-8 decoding as Fetch's body mixin does it (BOM dropped, invalid bytes replaced). */
const decoder = { decode: utf8Decode };

/** Raw body storage: a string or bytes is kept as is until someone asks for a stream. */
export type RawBody = string | Uint8Array | ReadableStream<Uint8Array> | null;

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// A ByteString without CR, LF or NUL, and no leading or trailing HTTP whitespace (Fetch "header value").
const BAD_VALUE = /[\0\r\n\u0100-\uffff]/;
const EDGE_WS = /^[\t\n\r ]+|[\t\n\r ]+$/g;

function normalizeName(name: unknown): string {
  const n = String(name);
  if (!TOKEN.test(n)) throw new TypeError(`Invalid header name: ${JSON.stringify(n)}; names are HTTP tokens (letters, digits and !#$%&'*+-.^_\`|~)`);
  return n.toLowerCase();
}

function normalizeValue(value: unknown): string {
  let v = String(value);
  if (v.length > 0 && (v.charCodeAt(0) <= 32 || v.charCodeAt(v.length - 1) <= 32)) v = v.replace(EDGE_WS, "");
  if (BAD_VALUE.test(v)) {
    throw new TypeError(`Invalid header value ${JSON.stringify(v.slice(0, 60))}: it contains CR, LF, NUL or a character above U+00FF`);
  }
  return v;
}

function needArgs(n: number, got: number, what: string): void {
  if (got < n) throw new TypeError(`${what} needs ${n} argument${n > 1 ? "s" : ""}, got ${got}`);
}

type HeadersInitLike = Headers | Record<string, string> | Iterable<readonly [string, string]> | string[][] | undefined;
type Guard = "none" | "immutable";

/** Iterates a Headers the way WebIDL pair iterators do: by index over the current sorted list. */
class HeadersIterator {
  #target: Headers;
  #kind: 0 | 1 | 2;
  #index = 0;
  constructor(target: Headers, kind: 0 | 1 | 2) {
    this.#target = target;
    this.#kind = kind;
  }
  next(): IteratorResult<unknown> {
    const list = this.#target._sorted();
    if (this.#index >= list.length) return { value: undefined, done: true };
    const pair = list[this.#index++]!;
    return { value: this.#kind === 0 ? [pair[0], pair[1]] : pair[this.#kind - 1], done: false };
  }
}
idl(HeadersIterator, "Headers Iterator", null, true);

/** The Fetch standard Headers class (case-insensitive, combined values, getSetCookie, guards). */
export class Headers {
  #map = new Map<string, string>();
  #cookies: string[] = [];
  #guard: Guard = "none";
  #sortedCache: [string, string][] | null = null;

  constructor(init?: HeadersInitLike) {
    if (init === undefined) return;
    // Headers is not in HeadersInit: a Headers is read through its iterator, so the internal copy
    // is only a shortcut for one whose iterator nobody replaced.
    if (init instanceof Headers && (init as { [Symbol.iterator]: unknown })[Symbol.iterator] === ENTRIES) {
      for (const [k, v] of init.#map) this.#map.set(k, v);
      for (const c of init.#cookies) this.#cookies.push(c);
      return;
    }
    if (init === null || (typeof init !== "object" && typeof init !== "function")) {
      throw new TypeError("Headers init must be a Headers, an array of [name, value] pairs or an object of name: value");
    }
    const iter = (init as { [Symbol.iterator]?: unknown })[Symbol.iterator];
    if (iter !== undefined && iter !== null) {
      if (typeof iter !== "function") throw new TypeError("Headers init: Symbol.iterator is not a function");
      for (const pair of init as Iterable<unknown>) {
        if (pair === null || typeof pair !== "object" || typeof (pair as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
          throw new TypeError("Headers init: each item must be a [name, value] pair");
        }
        const items = [...(pair as Iterable<unknown>)];
        if (items.length !== 2) throw new TypeError(`Headers init pairs must have exactly two items, got ${items.length}`);
        this.#append(items[0], items[1]);
      }
      return;
    }
    for (const k of Reflect.ownKeys(init)) {
      const desc = Reflect.getOwnPropertyDescriptor(init, k);
      if (desc === undefined || !desc.enumerable) continue;
      if (typeof k === "symbol") throw new TypeError("Headers init: a symbol key cannot be a header name");
      this.#append(k, (init as Record<string, unknown>)[k]);
    }
  }

  /** Builds from the flat [name, value, ...] array the host sends (names already lowercase). */
  static _fromFlat(flat: string[]): Headers {
    const h = new Headers();
    for (let i = 0; i < flat.length; i += 2) {
      const k = flat[i]!;
      const v = flat[i + 1]!;
      if (k === "set-cookie") h.#cookies.push(v);
      else {
        const prev = h.#map.get(k);
        h.#map.set(k, prev === undefined ? v : `${prev}, ${v}`);
      }
    }
    return h;
  }

  /** Sets the content type a body implies unless one is set: names and values known valid, no checks. */
  static _defaultType(h: Headers, type: string): void {
    if (h.#map.has("content-type")) return;
    h.#mutate();
    h.#map.set("content-type", type);
  }

  /** Makes `h` immutable (Response.error(), Response.redirect()). */
  static _freeze(h: Headers): Headers {
    h.#guard = "immutable";
    return h;
  }

  /** The flat array the host reads. */
  _toFlat(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#map) out.push(k, v);
    for (const c of this.#cookies) out.push("set-cookie", c);
    return out;
  }

  /** The sorted and combined list iteration walks; cached until the next change. */
  _sorted(): [string, string][] {
    if (this.#sortedCache === null) {
      const names = [...this.#map.keys()];
      if (this.#cookies.length > 0) names.push("set-cookie");
      names.sort();
      const list: [string, string][] = [];
      for (const n of names) {
        if (n === "set-cookie") for (const c of this.#cookies) list.push([n, c]);
        else list.push([n, this.#map.get(n)!]);
      }
      this.#sortedCache = list;
    }
    return this.#sortedCache;
  }

  #mutate(): void {
    if (this.#guard === "immutable") throw new TypeError("These headers are immutable");
    this.#sortedCache = null;
  }

  #append(name: unknown, value: unknown): void {
    const k = normalizeName(name);
    const v = normalizeValue(value);
    this.#mutate();
    if (k === "set-cookie") {
      this.#cookies.push(v);
      return;
    }
    const prev = this.#map.get(k);
    this.#map.set(k, prev === undefined ? v : `${prev}, ${v}`);
  }

  append(name: string, value: string): void {
    needArgs(2, arguments.length, "Headers.append");
    this.#append(name, value);
  }
  set(name: string, value: string): void {
    needArgs(2, arguments.length, "Headers.set");
    const k = normalizeName(name);
    const v = normalizeValue(value);
    this.#mutate();
    if (k === "set-cookie") this.#cookies = [v];
    else this.#map.set(k, v);
  }
  get(name: string): string | null {
    needArgs(1, arguments.length, "Headers.get");
    const k = normalizeName(name);
    if (k === "set-cookie") return this.#cookies.length ? this.#cookies.join(", ") : null;
    return this.#map.get(k) ?? null;
  }
  getSetCookie(): string[] {
    return [...this.#cookies];
  }
  has(name: string): boolean {
    needArgs(1, arguments.length, "Headers.has");
    const k = normalizeName(name);
    return k === "set-cookie" ? this.#cookies.length > 0 : this.#map.has(k);
  }
  delete(name: string): void {
    needArgs(1, arguments.length, "Headers.delete");
    const k = normalizeName(name);
    this.#mutate();
    if (k === "set-cookie") this.#cookies = [];
    else this.#map.delete(k);
  }
  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    if (typeof cb !== "function") throw new TypeError("Headers.forEach needs a callback function");
    // By index over the current list, like the iterators: changes made by the callback are seen.
    for (let i = 0; ; i++) {
      const pair = this._sorted()[i];
      if (pair === undefined) break;
      cb.call(thisArg, pair[1], pair[0], this);
    }
  }
  entries(): IterableIterator<[string, string]> {
    return new HeadersIterator(this, 0) as unknown as IterableIterator<[string, string]>;
  }
  keys(): IterableIterator<string> {
    return new HeadersIterator(this, 1) as unknown as IterableIterator<string>;
  }
  values(): IterableIterator<string> {
    return new HeadersIterator(this, 2) as unknown as IterableIterator<string>;
  }
  declare [Symbol.iterator]: () => IterableIterator<[string, string]>;
}
// WebIDL: @@iterator is the very same function object as entries().
Object.defineProperty(Headers.prototype, Symbol.iterator, {
  value: Object.getOwnPropertyDescriptor(Headers.prototype, "entries")!.value as unknown,
  writable: true,
  configurable: true,
});
idl(Headers, "Headers", 0);
const ENTRIES: unknown = Object.getOwnPropertyDescriptor(Headers.prototype, "entries")!.value;

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return encoder.encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("A body stream chunk must be a Uint8Array, ArrayBuffer or string");
}

/** Reads a whole stream into one Uint8Array; as in Fetch, every chunk must be a Uint8Array. */
export async function readAll(stream: ReadableStream<unknown>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!(value instanceof Uint8Array)) {
      const err = new TypeError("A body stream chunk must be a Uint8Array; encode strings with TextEncoder");
      await reader.cancel(err).catch(() => undefined);
      throw err;
    }
    parts.push(value);
    size += value.byteLength;
  }
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(size);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.byteLength;
  }
  return out;
}

type StreamState = { _disturbed?: boolean; locked: boolean };
const isStream = (v: unknown): v is ReadableStream<Uint8Array> =>
  isReadableStream(v) || (typeof v === "object" && v !== null && typeof (v as { getReader?: unknown }).getReader === "function");
const unusable = (s: ReadableStream<unknown>): boolean => (s as unknown as StreamState).locked || (s as unknown as StreamState)._disturbed === true;

/** Turns any BodyInit into raw storage plus the content type it implies. */
export function extractBody(init: unknown): { body: RawBody; type: string | null } {
  if (init == null) return { body: null, type: null };
  if (typeof init === "string") return { body: init, type: "text/plain;charset=UTF-8" };
  if (init instanceof ArrayBuffer) return { body: new Uint8Array(init.slice(0)), type: null };
  if (ArrayBuffer.isView(init)) return { body: new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), type: null };
  if (init instanceof URLSearchParams) return { body: init.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  if (init instanceof Blob) return { body: init._bytes, type: init.type || null };
  if (init instanceof FormData) {
    const { bytes, type } = encodeMultipart(init);
    return { body: bytes, type };
  }
  if (isStream(init)) {
    if (unusable(init)) throw new TypeError("The body stream is locked or has already been read");
    return { body: init, type: null };
  }
  return { body: String(init), type: "text/plain;charset=UTF-8" };
}

/** The MIME type of a Content-Type value, lowercased, without parameters ("" when there is none). */
function essence(contentType: string | null): string {
  return (contentType ?? "").split(";")[0]!.trim().toLowerCase();
}

/** The body half of Request and Response (the Fetch "Body" mixin). */
class Body {
  _raw: RawBody = null;
  _used = false;
  _stream: ReadableStream<Uint8Array> | null = null;
  declare _headers: Headers;

  get body(): ReadableStream<Uint8Array> | null {
    if (this._raw === null) return null;
    if (isStream(this._raw)) return this._raw;
    if (!this._stream) {
      const raw = this._raw;
      // A byte stream, as Fetch has it (BYOB readers work). Enqueueing transfers the buffer, so
      // bytes that may be shared (a Blob's, the host's request body) go in as a copy.
      const bytes = typeof raw === "string" ? encoder.encode(raw) : raw.slice();
      this._stream = new (streams().ReadableStream)<Uint8Array>({
        type: "bytes",
        start: (controller) => {
          if (bytes.byteLength > 0) controller.enqueue(bytes);
          controller.close();
        },
      });
      this._raw = this._stream;
    }
    return this._stream;
  }
  get bodyUsed(): boolean {
    return this._used || (isStream(this._raw) && (this._raw as unknown as StreamState)._disturbed === true);
  }
  _take(): RawBody {
    if (this._raw === null) return null; // no body: reads give empty results and nothing is used
    if (this.bodyUsed) throw new TypeError("Body has already been used; clone() the Request or Response to read it twice");
    if (isStream(this._raw) && this._raw.locked) throw new TypeError("Body is locked by a reader; release the reader or read it through the reader");
    this._used = true;
    return this._raw;
  }
  async _read(): Promise<Uint8Array> {
    const raw = this._take();
    if (raw === null) return new Uint8Array(0);
    if (typeof raw === "string") return encoder.encode(raw);
    if (raw instanceof Uint8Array) return raw;
    return readAll(raw);
  }
  async bytes(): Promise<Uint8Array> {
    const b = await this._read();
    // A body kept as bytes (the host's request body) may be read again by clones: hand out a copy.
    return b === this._raw ? b.slice() : b;
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this._read();
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b !== this._raw ? (b.buffer as ArrayBuffer) : b.slice().buffer;
  }
  async text(): Promise<string> {
    const raw = this._take();
    if (raw === null) return "";
    if (typeof raw === "string") return raw;
    if (raw instanceof Uint8Array) return decoder.decode(raw);
    return decoder.decode(await readAll(raw));
  }
  async json(): Promise<unknown> {
    return JSON.parse(await this.text());
  }
  async formData(): Promise<FormData> {
    const type = this._headers.get("content-type");
    const bytes = await this._read();
    return parseFormData(bytes, type);
  }
  async blob(): Promise<Blob> {
    const type = this._headers.get("content-type");
    const bytes = await this._read();
    return new Blob([bytes], { type: type === null ? "" : essence(type) === "" ? "" : type });
  }
  /** Splits the body for clone(). */
  _cloneRaw(): RawBody {
    if (this.bodyUsed) throw new TypeError("Cannot clone a body that has already been used");
    if (isStream(this._raw)) {
      if (this._raw.locked) throw new TypeError("Cannot clone a body that is locked by a reader");
      const [a, b] = this._raw.tee();
      this._raw = a;
      this._stream = a;
      return b;
    }
    return this._raw;
  }
}

const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304]);
const REASON_PHRASE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** ResponseInit as the Fetch standard has it. */
export interface ResponseInitLike {
  status?: number;
  statusText?: string;
  headers?: HeadersInitLike;
}

function dictionary<T>(init: unknown, what: string): T | undefined {
  if (init === undefined || init === null) return undefined;
  if (typeof init !== "object" && typeof init !== "function") throw new TypeError(`${what} must be an object, got ${typeof init}`);
  return init as T;
}

/** WebIDL `unsigned short` conversion (no clamping: 65536 + 200 is 200). */
function unsignedShort(v: unknown): number {
  const n = Number(v);
  if (!Number.isFinite(n)) return 0;
  const t = Math.trunc(n) % 65536;
  return t < 0 ? t + 65536 : t;
}

// WebIDL accessors throw a TypeError on an object that is not of their class.
function isResponse(o: unknown): void {
  if (!(o instanceof Response)) throw new TypeError("Illegal invocation: not a Response");
}
function isRequest(o: unknown): void {
  if (!(o instanceof Request)) throw new TypeError("Illegal invocation: not a Request");
}

/** The Fetch standard Response. */
export class Response extends Body {
  _status = 200;
  _statusText = "";
  _type = "default";
  _url = "";

  constructor(body?: unknown, init?: ResponseInitLike) {
    super();
    const i = dictionary<ResponseInitLike>(init, "Response init");
    const status = i?.status === undefined ? 200 : unsignedShort(i.status);
    if (status < 200 || status > 599) throw new RangeError(`Response status must be an integer from 200 to 599, got ${String(i?.status)}`);
    const statusText = i?.statusText === undefined ? "" : String(i.statusText);
    if (statusText !== "" && !REASON_PHRASE.test(statusText)) {
      throw new TypeError(`Response statusText ${JSON.stringify(statusText.slice(0, 60))} has a line break, control or non-Latin-1 character`);
    }
    this._status = status;
    this._statusText = statusText;
    this._headers = new Headers(i?.headers);
    if (body != null) {
      if (NULL_BODY_STATUS.has(status)) throw new TypeError(`A Response with status ${status} cannot have a body; pass null`);
      const { body: raw, type } = extractBody(body);
      this._raw = raw;
      if (type) Headers._defaultType(this._headers, type);
    }
  }
  get status(): number {
    isResponse(this);
    return this._status;
  }
  get statusText(): string {
    isResponse(this);
    return this._statusText;
  }
  get headers(): Headers {
    isResponse(this);
    return this._headers;
  }
  get type(): string {
    isResponse(this);
    return this._type;
  }
  get url(): string {
    isResponse(this);
    return this._url;
  }
  get redirected(): boolean {
    isResponse(this);
    return false;
  }
  get ok(): boolean {
    isResponse(this);
    return this._status >= 200 && this._status < 300;
  }
  clone(): Response {
    if (!(this instanceof Response)) throw new TypeError("clone() called on an object that is not a Response");
    const r = new Response(null);
    r._status = this._status;
    r._statusText = this._statusText;
    r._type = this._type;
    r._url = this._url;
    r._headers = new Headers(this._headers);
    if (this._type === "error" || this._status === 0) Headers._freeze(r._headers);
    r._raw = this._cloneRaw();
    return r;
  }
  static json(data: unknown, init?: ResponseInitLike): Response {
    const text = JSON.stringify(data);
    if (text === undefined) throw new TypeError(`Response.json(): ${typeof data} cannot be serialised as JSON`);
    const r = new Response(null, init);
    if (NULL_BODY_STATUS.has(r._status)) throw new TypeError(`A Response with status ${r._status} cannot have a body; use new Response(null, init)`);
    r._raw = text;
    Headers._defaultType(r._headers, "application/json");
    return r;
  }
  static redirect(url: string | URL, status = 302): Response {
    let href: string;
    try {
      href = new URL(String(url)).href;
    } catch {
      throw new TypeError(
        `Response.redirect(): ${JSON.stringify(String(url))} is not an absolute URL; resolve a path first, e.g. Response.redirect(new URL("/path", request.url))`,
      );
    }
    const s = unsignedShort(status);
    if (![301, 302, 303, 307, 308].includes(s)) throw new RangeError(`Response.redirect(): status must be 301, 302, 303, 307 or 308, got ${String(status)}`);
    const r = new Response(null, { status: s });
    r._headers.set("location", href);
    Headers._freeze(r._headers);
    return r;
  }
  static error(): Response {
    const r = new Response(null);
    r._status = 0;
    r._type = "error";
    Headers._freeze(r._headers);
    return r;
  }
}
idl(Body, "Body", null);
idl(Response, "Response", 0);

/** RequestInit as the Fetch standard has it. */
export interface RequestInitLike {
  method?: string;
  headers?: HeadersInitLike;
  body?: unknown;
  redirect?: string;
  signal?: unknown;
  mode?: string;
  credentials?: string;
  cache?: string;
  referrer?: string;
  referrerPolicy?: string;
  integrity?: string;
  keepalive?: boolean;
  duplex?: string;
  window?: unknown;
}

const NORMALIZED_METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT"]);
const FORBIDDEN_METHODS = new Set(["CONNECT", "TRACE", "TRACK"]);
const ENUMS: Record<string, readonly string[]> = {
  mode: ["same-origin", "no-cors", "cors", "navigate"],
  credentials: ["omit", "same-origin", "include"],
  cache: ["default", "no-store", "reload", "no-cache", "force-cache", "only-if-cached"],
  redirect: ["follow", "error", "manual"],
  referrerPolicy: [
    "",
    "no-referrer",
    "no-referrer-when-downgrade",
    "same-origin",
    "origin",
    "strict-origin",
    "origin-when-cross-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
  ],
  duplex: ["half"],
};

function enumValue(init: RequestInitLike, key: keyof RequestInitLike, fallback: string): string {
  const v = init[key];
  if (v === undefined) return fallback;
  const s = String(v);
  if (!ENUMS[key]!.includes(s))
    throw new TypeError(`Request ${key} must be one of ${ENUMS[key]!.map((x) => JSON.stringify(x)).join(", ")}, got ${JSON.stringify(s)}`);
  return s;
}

interface SignalLike {
  aborted: boolean;
  reason?: unknown;
  addEventListener(type: string, fn: () => void, options?: unknown): void;
}
interface ControllerLike {
  signal: SignalLike;
  abort(reason?: unknown): void;
}
type Globals = { AbortController: new () => ControllerLike; AbortSignal: new () => SignalLike };
// Looked up when used, not at load time: the prelude installs the AbortController globals after this module runs.
const abortGlobals = (): Globals => globalThis;

/** A signal that aborts when `parent` does (Fetch "create a dependent abort signal"). */
function follow(parent: SignalLike | null): SignalLike {
  const c = new (abortGlobals().AbortController)();
  if (parent) {
    if (parent.aborted) c.abort(parent.reason);
    else parent.addEventListener("abort", () => c.abort(parent.reason), { once: true });
  }
  return c.signal;
}

/** The Fetch standard Request. */
export class Request extends Body {
  _url = "";
  _method = "GET";
  _signal: SignalLike | null = null;
  _parentSignal: SignalLike | null = null;
  _redirect?: string;
  _mode?: string;
  _credentials?: string;
  _cache?: string;
  _referrer?: string;
  _referrerPolicy?: string;
  _integrity?: string;
  _keepalive?: boolean;

  constructor(input: string | URL | Request, init?: RequestInitLike) {
    super();
    if (arguments.length < 1) throw new TypeError("Request needs a URL or a Request");
    const i = dictionary<RequestInitLike>(init, "Request init") ?? {};
    let inputBody: RawBody = null;
    let src: Request | null = null;
    if (input instanceof Request) {
      src = input;
      this._url = input._url;
      this._method = input._method;
      this._redirect = input._redirect;
      this._mode = input._mode;
      this._credentials = input._credentials;
      this._cache = input._cache;
      this._referrer = input._referrer;
      this._referrerPolicy = input._referrerPolicy;
      this._integrity = input._integrity;
      this._keepalive = input._keepalive;
      this._parentSignal = input.signal;
      inputBody = input._raw;
    } else {
      let url: URL;
      try {
        url = new URL(String(input));
      } catch {
        throw new TypeError(`Request: ${JSON.stringify(String(input))} is not an absolute URL; resolve a path first, e.g. new URL("/path", request.url)`);
      }
      const { username, password } = url as unknown as { username: string; password: string };
      if (username !== "" || password !== "") throw new TypeError(`Request: the URL ${url.href} has credentials; send them in an Authorization header`);
      this._url = url.href;
    }
    if (i.window !== undefined && i.window !== null) throw new TypeError("Request init: window can only be null");
    if (i.mode !== undefined) {
      const mode = enumValue(i, "mode", "cors");
      if (mode === "navigate") throw new TypeError('Request init: mode cannot be "navigate"');
      this._mode = mode;
    }
    if (i.credentials !== undefined) this._credentials = enumValue(i, "credentials", "same-origin");
    if (i.cache !== undefined) this._cache = enumValue(i, "cache", "default");
    if (this._cache === "only-if-cached" && (this._mode ?? "cors") !== "same-origin") {
      throw new TypeError('Request: cache "only-if-cached" needs mode "same-origin"');
    }
    if (i.redirect !== undefined) this._redirect = enumValue(i, "redirect", "follow");
    if (i.referrerPolicy !== undefined) this._referrerPolicy = enumValue(i, "referrerPolicy", "");
    if (i.referrer !== undefined) {
      const ref = String(i.referrer);
      if (ref === "") this._referrer = "";
      else {
        try {
          this._referrer = new URL(ref).href;
        } catch {
          throw new TypeError(`Request init: referrer ${JSON.stringify(ref)} is not a URL`);
        }
      }
    }
    if (i.integrity !== undefined) this._integrity = String(i.integrity);
    if (i.keepalive !== undefined) this._keepalive = Boolean(i.keepalive);
    if (i.duplex !== undefined) enumValue(i, "duplex", "half");
    if (i.method !== undefined) {
      const m = String(i.method);
      if (!TOKEN.test(m)) throw new TypeError(`Request: ${JSON.stringify(m)} is not a valid HTTP method`);
      const upper = m.toUpperCase();
      if (FORBIDDEN_METHODS.has(upper)) throw new TypeError(`Request: the method ${m} is forbidden`);
      this._method = NORMALIZED_METHODS.has(upper) ? upper : m;
    }
    if (this._mode === "no-cors" && !["GET", "HEAD", "POST"].includes(this._method)) {
      throw new TypeError(`Request: mode "no-cors" allows only GET, HEAD and POST, got ${this._method}`);
    }
    if (i.signal !== undefined) {
      if (i.signal !== null && !(i.signal instanceof abortGlobals().AbortSignal)) throw new TypeError("Request init: signal must be an AbortSignal");
      this._parentSignal = i.signal;
    }
    this._headers = new Headers(i.headers !== undefined ? i.headers : src?._headers);
    const initBody = i.body;
    if ((initBody != null || inputBody !== null) && (this._method === "GET" || this._method === "HEAD")) {
      throw new TypeError(`A ${this._method} request cannot have a body`);
    }
    if (initBody != null) {
      const { body, type } = extractBody(initBody);
      if (isStream(body)) {
        if (i.duplex !== "half") throw new TypeError('Request: a stream body needs duplex: "half" in the init');
        if (this._keepalive) throw new TypeError("Request: keepalive cannot be used with a stream body");
      }
      this._raw = body;
      if (type) Headers._defaultType(this._headers, type);
    } else if (src !== null && inputBody !== null) {
      if (src.bodyUsed || (isStream(inputBody) && inputBody.locked)) throw new TypeError("Request: the input Request's body has already been used");
      // The new Request takes the body over; the input is left disturbed, as in Fetch.
      this._raw = inputBody;
      this._stream = src._stream;
      src._used = true;
    }
  }
  /** The fast path for requests from the host: no parsing or copying beyond what is needed. */
  static _fromHost(method: string, url: string, flat: string[], body: Uint8Array | null): Request {
    const r = Object.create(Request.prototype) as Request;
    r._raw = body;
    r._used = false;
    r._stream = null;
    r._url = url;
    r._method = method;
    r._headers = Headers._fromFlat(flat);
    r._signal = null;
    r._parentSignal = null;
    return r;
  }
  get url(): string {
    isRequest(this);
    return this._url;
  }
  get method(): string {
    isRequest(this);
    return this._method;
  }
  get headers(): Headers {
    isRequest(this);
    return this._headers;
  }
  get signal(): SignalLike {
    isRequest(this);
    // Made on first use: most handlers never look, and a controller per request is not free.
    if (this._signal === null) this._signal = follow(this._parentSignal);
    return this._signal;
  }
  get redirect(): string {
    isRequest(this);
    return this._redirect ?? "follow";
  }
  get mode(): string {
    isRequest(this);
    return this._mode ?? "cors";
  }
  get credentials(): string {
    isRequest(this);
    return this._credentials ?? "same-origin";
  }
  get cache(): string {
    isRequest(this);
    return this._cache ?? "default";
  }
  get referrer(): string {
    isRequest(this);
    return this._referrer ?? "about:client";
  }
  get referrerPolicy(): string {
    isRequest(this);
    return this._referrerPolicy ?? "";
  }
  get integrity(): string {
    isRequest(this);
    return this._integrity ?? "";
  }
  get keepalive(): boolean {
    isRequest(this);
    return this._keepalive ?? false;
  }
  get destination(): string {
    isRequest(this);
    return "";
  }
  get isReloadNavigation(): boolean {
    isRequest(this);
    return false;
  }
  get isHistoryNavigation(): boolean {
    isRequest(this);
    return false;
  }
  get duplex(): string {
    isRequest(this);
    return "half";
  }
  clone(): Request {
    if (!(this instanceof Request)) throw new TypeError("clone() called on an object that is not a Request");
    const r = Object.create(Request.prototype) as Request;
    Object.assign(r, this);
    r._headers = new Headers(this._headers);
    r._signal = null;
    r._parentSignal = this.signal;
    r._used = false;
    r._raw = this._cloneRaw();
    r._stream = isStream(r._raw) ? r._raw : null;
    return r;
  }
}
idl(Request, "Request", 1);

/** Reads any body into bytes for the host (fetch, service calls). */
export async function bodyBytes(r: Request | Response): Promise<Uint8Array | null> {
  if (r._raw === null) return null;
  return r.bytes();
}

export { encoder, decoder, toBytes };
