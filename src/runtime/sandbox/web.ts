// Sandbox code: compiled into the isolate prelude, never loaded by Node.
/**
 * Headers, Request, Response and body handling as a Workers-style module expects them. They live
 * inside the isolate so a request crosses the boundary once in and once out. Hand-written because
 * the well-kept polyfills (whatwg-fetch) have no stream bodies, which response streaming needs.
 */
import { ReadableStream } from "web-streams-polyfill";
import { Blob, FormData, encodeMultipart, parseFormData } from "./form.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Raw body storage: a string or bytes is kept as is until someone asks for a stream. */
export type RawBody = string | Uint8Array | ReadableStream<Uint8Array> | null;

function normalizeName(name: string): string {
  const n = String(name).toLowerCase();
  if (!/^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(n)) throw new TypeError(`Invalid header name: "${name}"`);
  return n;
}

function normalizeValue(value: string): string {
  const v = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  if (/[\r\n\0]/.test(v)) throw new TypeError(`Invalid header value: it contains a line break or NUL`);
  return v;
}

type HeadersInitLike = Headers | Record<string, string> | Iterable<readonly [string, string]> | string[][] | undefined | null;

/** The Fetch standard Headers class (case-insensitive, combined values, getSetCookie). */
export class Headers {
  #map = new Map<string, string>();
  #cookies: string[] = [];

  constructor(init?: HeadersInitLike) {
    if (init == null) return;
    if (init instanceof Headers) {
      init.forEach((v, k) => this.append(k, v));
      for (const c of init.getSetCookie()) this.#cookies.push(c);
      this.#map.delete("set-cookie");
      return;
    }
    if (typeof (init as Iterable<unknown>)[Symbol.iterator] === "function") {
      for (const pair of init as Iterable<readonly [string, string]>) {
        if (pair.length !== 2) throw new TypeError("Headers init pairs must have exactly two items");
        this.append(pair[0], pair[1]);
      }
      return;
    }
    for (const k of Object.keys(init)) this.append(k, (init as Record<string, string>)[k]!);
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

  /** The flat array the host reads. */
  _toFlat(): string[] {
    const out: string[] = [];
    for (const [k, v] of this.#map) out.push(k, v);
    for (const c of this.#cookies) out.push("set-cookie", c);
    return out;
  }

  append(name: string, value: string): void {
    const k = normalizeName(name);
    const v = normalizeValue(value);
    if (k === "set-cookie") {
      this.#cookies.push(v);
      return;
    }
    const prev = this.#map.get(k);
    this.#map.set(k, prev === undefined ? v : `${prev}, ${v}`);
  }
  set(name: string, value: string): void {
    const k = normalizeName(name);
    if (k === "set-cookie") this.#cookies = [normalizeValue(value)];
    else this.#map.set(k, normalizeValue(value));
  }
  get(name: string): string | null {
    const k = normalizeName(name);
    if (k === "set-cookie") return this.#cookies.length ? this.#cookies.join(", ") : null;
    return this.#map.get(k) ?? null;
  }
  getSetCookie(): string[] {
    return [...this.#cookies];
  }
  has(name: string): boolean {
    const k = normalizeName(name);
    return k === "set-cookie" ? this.#cookies.length > 0 : this.#map.has(k);
  }
  delete(name: string): void {
    const k = normalizeName(name);
    if (k === "set-cookie") this.#cookies = [];
    else this.#map.delete(k);
  }
  forEach(cb: (value: string, key: string, parent: Headers) => void, thisArg?: unknown): void {
    for (const [k, v] of this.entries()) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<[string, string]> {
    const all: [string, string][] = [...this.#map];
    for (const c of this.#cookies) all.push(["set-cookie", c]);
    all.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    yield* all;
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): IterableIterator<string> {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator](): IterableIterator<[string, string]> {
    return this.entries();
  }
  get [Symbol.toStringTag](): string {
    return "Headers";
  }
}

function toBytes(chunk: unknown): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (typeof chunk === "string") return encoder.encode(chunk);
  if (chunk instanceof ArrayBuffer) return new Uint8Array(chunk);
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TypeError("A body stream chunk must be a Uint8Array, ArrayBuffer or string");
}

/** Reads a whole stream into one Uint8Array. */
export async function readAll(stream: ReadableStream<unknown>): Promise<Uint8Array> {
  const reader = stream.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const bytes = toBytes(value);
    parts.push(bytes);
    size += bytes.byteLength;
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

/** Turns any BodyInit into raw storage plus the content type it implies. */
export function extractBody(init: unknown): { body: RawBody; type: string | null } {
  if (init == null) return { body: null, type: null };
  if (typeof init === "string") return { body: init, type: "text/plain;charset=UTF-8" };
  if (init instanceof Uint8Array) return { body: init, type: null };
  if (init instanceof ArrayBuffer) return { body: new Uint8Array(init.slice(0)), type: null };
  if (ArrayBuffer.isView(init)) return { body: new Uint8Array(init.buffer.slice(init.byteOffset, init.byteOffset + init.byteLength)), type: null };
  if (init instanceof URLSearchParams) return { body: init.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" };
  if (init instanceof Blob) return { body: init._bytes, type: init.type || null };
  if (init instanceof FormData) {
    const { bytes, type } = encodeMultipart(init);
    return { body: bytes, type };
  }
  if (init instanceof ReadableStream) return { body: init as ReadableStream<Uint8Array>, type: null };
  if (typeof (init as { getReader?: unknown }).getReader === "function") return { body: init as ReadableStream<Uint8Array>, type: null };
  return { body: String(init), type: "text/plain;charset=UTF-8" };
}

/** The body half of Request and Response. */
class Body {
  _raw: RawBody = null;
  _used = false;
  _stream: ReadableStream<Uint8Array> | null = null;

  get body(): ReadableStream<Uint8Array> | null {
    if (this._raw === null) return null;
    if (this._raw instanceof ReadableStream) return this._raw;
    if (!this._stream) {
      const raw = this._raw;
      this._stream = new ReadableStream<Uint8Array>({
        start: (controller) => {
          controller.enqueue(typeof raw === "string" ? encoder.encode(raw) : raw);
          controller.close();
        },
      });
      this._raw = this._stream;
    }
    return this._stream;
  }
  get bodyUsed(): boolean {
    return this._used;
  }
  _take(): RawBody {
    if (this._used) throw new TypeError("Body has already been used; clone() the Request or Response to read it twice");
    this._used = true;
    return this._raw;
  }
  async bytes(): Promise<Uint8Array> {
    const raw = this._take();
    if (raw === null) return new Uint8Array(0);
    if (typeof raw === "string") return encoder.encode(raw);
    if (raw instanceof Uint8Array) return raw;
    return readAll(raw);
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const b = await this.bytes();
    return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? (b.buffer as ArrayBuffer) : b.slice().buffer;
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
    const type = (this as unknown as { headers: Headers }).headers.get("content-type");
    return parseFormData(await this.bytes(), type);
  }
  async blob(): Promise<Blob> {
    const type = (this as unknown as { headers: Headers }).headers.get("content-type") ?? "";
    return new Blob([await this.bytes()], { type });
  }
  /** Splits the body for clone(). */
  _cloneRaw(): RawBody {
    if (this._used) throw new TypeError("Cannot clone a body that has already been used");
    if (this._raw instanceof ReadableStream) {
      const [a, b] = this._raw.tee();
      this._raw = a;
      this._stream = a;
      return b;
    }
    return this._raw;
  }
}

const NULL_BODY_STATUS = new Set([101, 204, 205, 304]);

/** ResponseInit as the Fetch standard has it. */
export interface ResponseInitLike {
  status?: number;
  statusText?: string;
  headers?: HeadersInitLike;
}

/** The Fetch standard Response. */
export class Response extends Body {
  readonly status: number;
  readonly statusText: string;
  readonly headers: Headers;
  readonly type: string = "default";
  readonly url: string = "";
  readonly redirected: boolean = false;

  constructor(body?: unknown, init?: ResponseInitLike) {
    super();
    const status = init?.status ?? 200;
    if (!Number.isInteger(status) || status < 200 || status > 599) {
      throw new RangeError(`Response status must be an integer from 200 to 599, got ${String(status)}`);
    }
    this.status = status;
    this.statusText = init?.statusText ?? "";
    this.headers = new Headers(init?.headers);
    if (body != null) {
      if (NULL_BODY_STATUS.has(status)) throw new TypeError(`A Response with status ${status} cannot have a body`);
      const { body: raw, type } = extractBody(body);
      this._raw = raw;
      if (type && !this.headers.has("content-type")) this.headers.set("content-type", type);
    }
  }
  get ok(): boolean {
    return this.status >= 200 && this.status < 300;
  }
  clone(): Response {
    const r = new Response(null, { status: this.status, statusText: this.statusText, headers: this.headers });
    r._raw = this._cloneRaw();
    return r;
  }
  static json(data: unknown, init?: ResponseInitLike): Response {
    const headers = new Headers(init?.headers);
    if (!headers.has("content-type")) headers.set("content-type", "application/json");
    return new Response(JSON.stringify(data), { ...init, headers });
  }
  static redirect(url: string | URL, status = 302): Response {
    if (![301, 302, 303, 307, 308].includes(status)) throw new RangeError(`Invalid redirect status ${status}`);
    return new Response(null, { status, headers: { location: String(url) } });
  }
  static error(): Response {
    const r = new Response(null, { status: 200 });
    (r as { status: number }).status = 0;
    (r as { type: string }).type = "error";
    return r;
  }
  get [Symbol.toStringTag](): string {
    return "Response";
  }
}

/** RequestInit as the Fetch standard has it. */
export interface RequestInitLike {
  method?: string;
  headers?: HeadersInitLike;
  body?: unknown;
  redirect?: string;
  signal?: unknown;
}

const METHODS = new Set(["DELETE", "GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH"]);

/** The Fetch standard Request. */
export class Request extends Body {
  readonly url: string;
  readonly method: string;
  readonly headers: Headers;
  readonly redirect: string;
  readonly signal: unknown;

  constructor(input: string | URL | Request, init?: RequestInitLike) {
    super();
    let method = "GET";
    let headers: HeadersInitLike = undefined;
    if (input instanceof Request) {
      this.url = input.url;
      method = input.method;
      headers = input.headers;
      if (init?.body === undefined && input._raw !== null) this._raw = input._cloneRaw();
      this.redirect = input.redirect;
    } else {
      this.url = new URL(String(input)).href;
      this.redirect = "follow";
    }
    if (init?.method !== undefined) {
      const upper = String(init.method).toUpperCase();
      method = METHODS.has(upper) ? upper : String(init.method);
    }
    this.method = method;
    if (init?.redirect !== undefined) this.redirect = init.redirect;
    this.signal = init?.signal ?? null;
    this.headers = new Headers(init?.headers ?? headers);
    if (init?.body != null) {
      if (method === "GET" || method === "HEAD") throw new TypeError(`A ${method} request cannot have a body`);
      const { body, type } = extractBody(init.body);
      this._raw = body;
      if (type && !this.headers.has("content-type")) this.headers.set("content-type", type);
    }
  }
  /** The fast path for requests from the host: no parsing or copying beyond what is needed. */
  static _fromHost(method: string, url: string, flat: string[], body: Uint8Array | null): Request {
    const r = Object.create(Request.prototype) as Request;
    const w = r as unknown as Record<string, unknown>;
    w["_raw"] = body;
    w["_used"] = false;
    w["_stream"] = null;
    w["url"] = url;
    w["method"] = method;
    w["headers"] = Headers._fromFlat(flat);
    w["redirect"] = "follow";
    w["signal"] = null;
    return r;
  }
  clone(): Request {
    const r = new Request(this.url, { method: this.method, headers: this.headers, redirect: this.redirect });
    r._raw = this._cloneRaw();
    return r;
  }
  get [Symbol.toStringTag](): string {
    return "Request";
  }
}

/** Reads any body into bytes for the host (fetch, service calls). */
export async function bodyBytes(r: Request | Response): Promise<Uint8Array | null> {
  if (r._raw === null) return null;
  return r.bytes();
}

export { encoder, decoder, toBytes };
