// Sandbox code: compiled into the isolate prelude, never loaded by Node.
/**
 * Blob, File and FormData, with multipart/form-data and urlencoded parsing and multipart
 * serialisation, for Request/Response bodies. Hand-written: the well-kept polyfills
 * (fetch-blob, formdata-polyfill) reach for Node streams at load time.
 */

import type { ReadableStream } from "web-streams-polyfill";
import { streams } from "./streams.ts";

const enc = new TextEncoder();
let utf8: TextDecoder | null = null;

/**
 * UTF-8 decode as the Encoding standard's "UTF-8 decode": one leading BOM dropped, invalid bytes
 * replaced. Made on first use from the TextDecoder global the prelude finally installs; the BOM is
 * dropped here so the result does not depend on which decoder that is.
 */
export function utf8Decode(bytes: Uint8Array): string {
  utf8 ??= new (globalThis as unknown as { TextDecoder: typeof TextDecoder }).TextDecoder("utf-8", { ignoreBOM: true });
  const b = bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? bytes.subarray(3) : bytes;
  return utf8.decode(b);
}

/** A string as a WebIDL USVString: lone surrogates become U+FFFD. */
export function usv(v: unknown): string {
  return String(v).toWellFormed();
}

/**
 * Gives a class the shape WebIDL gives an interface: Symbol.toStringTag, the constructor's length
 * (its required arguments), and enumerable methods and accessors on the prototype (internal `_`
 * members stay hidden). `iteratorOf` makes the class an iterator prototype for that interface.
 */
export function idl(C: abstract new (...args: never[]) => unknown, tag: string, length: number | null, iteratorOf = false): void {
  const proto = C.prototype as object;
  if (iteratorOf) Object.setPrototypeOf(proto, Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())) as object);
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === "constructor" || key.startsWith("_")) continue;
    Object.defineProperty(proto, key, { enumerable: true });
  }
  Object.defineProperty(proto, Symbol.toStringTag, { value: tag, configurable: true });
  if (length !== null) Object.defineProperty(C, "length", { value: length });
}

type BlobPart = string | ArrayBuffer | ArrayBufferView | Blob;

/** WebIDL conversion of one BlobPart: bytes are copied now, anything else becomes a USVString. */
function convertPart(p: unknown): Uint8Array | string {
  if (p instanceof Blob) return p._bytes;
  if (p instanceof ArrayBuffer) return new Uint8Array(p.slice(0));
  if (ArrayBuffer.isView(p)) return new Uint8Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength));
  return usv(p);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The File API's type normalisation: lowercase, or "" when it has characters outside U+0020-U+007E. */
function blobType(t: unknown): string {
  if (t === undefined) return "";
  const s = String(t);
  return /^[\x20-\x7e]*$/.test(s) ? s.toLowerCase() : "";
}

function options<T>(o: unknown, what: string): T | undefined {
  if (o === undefined || o === null) return undefined;
  if (typeof o !== "object" && typeof o !== "function") throw new TypeError(`${what} options must be an object, got ${typeof o}`);
  return o as T;
}

/** WebIDL `long long` conversion without clamping (NaN and infinities are 0). */
function longLong(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? Math.trunc(n) : 0;
}

function blobBytes(parts: unknown, opts: unknown, what: string): { bytes: Uint8Array; type: string } {
  // WebIDL converts the arguments left to right: every part first, then the options, whose
  // members are read in lexicographic order (endings, then type).
  const list: (Uint8Array | string)[] = [];
  if (parts !== undefined) {
    if (parts === null || typeof parts !== "object" || typeof (parts as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
      throw new TypeError(`${what}: the parts must be an array (or other iterable) of strings, buffers and Blobs`);
    }
    for (const p of parts as Iterable<unknown>) list.push(convertPart(p));
  }
  const o = options<{ type?: unknown; endings?: unknown }>(opts, what);
  let native = false;
  const endings = o?.endings;
  if (endings !== undefined) {
    const e = String(endings);
    if (e !== "transparent" && e !== "native") throw new TypeError(`${what}: endings must be "transparent" or "native", got ${JSON.stringify(e)}`);
    native = e === "native";
  }
  const type = blobType(o?.type);
  const bytes = list.map((p) => (typeof p === "string" ? enc.encode(native ? p.replace(/\r\n?/g, "\n") : p) : p));
  return { bytes: bytes.length === 0 ? new Uint8Array(0) : concat(bytes), type };
}

/** The File API Blob, kept as bytes in memory. */
export class Blob {
  _bytes: Uint8Array;
  _type: string;
  constructor(parts?: BlobPart[] | Iterable<unknown>, opts?: { type?: string; endings?: string }) {
    const { bytes, type } = blobBytes(parts, opts, "Blob");
    this._bytes = bytes;
    this._type = type;
  }
  /** A Blob over `bytes` as they are (no copy): for bodies already read. */
  static _of(bytes: Uint8Array, type: string): Blob {
    const b = new Blob();
    b._bytes = bytes;
    b._type = blobType(type);
    return b;
  }
  get size(): number {
    return this._bytes.byteLength;
  }
  get type(): string {
    return this._type;
  }
  async text(): Promise<string> {
    return utf8Decode(this._bytes);
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    return this._bytes.slice().buffer;
  }
  async bytes(): Promise<Uint8Array> {
    return this._bytes.slice();
  }
  slice(start?: number, end?: number, contentType?: string): Blob {
    const size = this._bytes.byteLength;
    const rel = (v: unknown, dflt: number): number => {
      if (v === undefined) return dflt;
      const n = longLong(v);
      return n < 0 ? Math.max(size + n, 0) : Math.min(n, size);
    };
    const from = rel(start, 0);
    const to = rel(end, size);
    return Blob._of(this._bytes.slice(from, Math.max(from, to)), contentType === undefined ? "" : String(contentType));
  }
  stream(): ReadableStream<Uint8Array> {
    const bytes = this._bytes;
    let at = 0;
    // Chunks of 64 KiB, pulled on demand, so a large Blob is not one huge chunk in the queue.
    return new (streams().ReadableStream)<Uint8Array>({
      type: "bytes",
      pull(c) {
        if (at >= bytes.byteLength) {
          c.close();
          return;
        }
        const end = Math.min(at + 65536, bytes.byteLength);
        c.enqueue(bytes.slice(at, end));
        at = end;
        if (at >= bytes.byteLength) c.close();
      },
    });
  }
}
idl(Blob, "Blob", 0);

/** A Blob with a name and a modification time. */
export class File extends Blob {
  _name: string;
  _lastModified: number;
  constructor(parts: BlobPart[] | Iterable<unknown>, name: string, opts?: { type?: string; endings?: string; lastModified?: number }) {
    if (arguments.length < 2) throw new TypeError(`File needs its contents and a name, got ${arguments.length} argument(s)`);
    super(parts, opts);
    this._name = usv(name);
    const lm = options<{ lastModified?: unknown }>(opts, "File")?.lastModified;
    this._lastModified = lm === undefined ? Date.now() : longLong(lm);
  }
  /** A File over `bytes` as they are (no copy), as the multipart parser makes them. */
  static _named(bytes: Uint8Array, name: string, type: string): File {
    const f = new File([], name, { type, lastModified: 0 });
    f._bytes = bytes;
    return f;
  }
  get name(): string {
    return this._name;
  }
  get lastModified(): number {
    return this._lastModified;
  }
  get webkitRelativePath(): string {
    return "";
  }
}
idl(File, "File", 2);

type Entry = [string, string | File];

function needArgs(n: number, got: number, what: string): void {
  if (got < n) throw new TypeError(`${what} needs ${n} argument${n > 1 ? "s" : ""}, got ${got}`);
}

/** XHR's "create an entry": Blobs become Files, named "blob" or by the filename given. */
function toEntry(name: unknown, value: unknown, filename: unknown, argc: number, what: string): Entry {
  const n = usv(name);
  if (!(value instanceof Blob)) {
    if (argc > 2) throw new TypeError(`${what}: a filename can only be given with a Blob or File value`);
    return [n, usv(value)];
  }
  if (value instanceof File && argc <= 2) return [n, value];
  const file = new File([value], argc > 2 ? usv(filename) : "blob", {
    type: value.type,
    lastModified: value instanceof File ? value.lastModified : undefined,
  });
  return [n, file];
}

/** Iterates a FormData by index over its live entry list, as WebIDL pair iterators do. */
class FormDataIterator {
  #entries: () => Entry[];
  #kind: 0 | 1 | 2;
  #index = 0;
  constructor(entries: () => Entry[], kind: 0 | 1 | 2) {
    this.#entries = entries;
    this.#kind = kind;
  }
  next(): IteratorResult<unknown> {
    const list = this.#entries();
    if (this.#index >= list.length) return { value: undefined, done: true };
    const e = list[this.#index++]!;
    return { value: this.#kind === 0 ? [e[0], e[1]] : e[this.#kind - 1], done: false };
  }
}
idl(FormDataIterator, "FormData Iterator", null, true);

/** The XHR standard FormData (without the HTML form element constructor argument). */
export class FormData {
  #entries: Entry[] = [];
  constructor(form?: unknown) {
    if (form !== undefined) throw new TypeError("FormData: there are no HTML forms here; call new FormData() and append() the fields");
  }
  append(name: string, value: string | Blob, filename?: string): void {
    needArgs(2, arguments.length, "FormData.append");
    this.#entries.push(toEntry(name, value, filename, arguments.length, "FormData.append"));
  }
  set(name: string, value: string | Blob, filename?: string): void {
    needArgs(2, arguments.length, "FormData.set");
    const entry = toEntry(name, value, filename, arguments.length, "FormData.set");
    const i = this.#entries.findIndex(([k]) => k === entry[0]);
    if (i < 0) {
      this.#entries.push(entry);
      return;
    }
    this.#entries[i] = entry;
    this.#entries = this.#entries.filter(([k], j) => k !== entry[0] || j <= i);
  }
  get(name: string): string | File | null {
    needArgs(1, arguments.length, "FormData.get");
    const n = usv(name);
    return this.#entries.find(([k]) => k === n)?.[1] ?? null;
  }
  getAll(name: string): (string | File)[] {
    needArgs(1, arguments.length, "FormData.getAll");
    const n = usv(name);
    return this.#entries.filter(([k]) => k === n).map(([, v]) => v);
  }
  has(name: string): boolean {
    needArgs(1, arguments.length, "FormData.has");
    const n = usv(name);
    return this.#entries.some(([k]) => k === n);
  }
  delete(name: string): void {
    needArgs(1, arguments.length, "FormData.delete");
    const n = usv(name);
    this.#entries = this.#entries.filter(([k]) => k !== n);
  }
  forEach(cb: (value: string | File, key: string, parent: FormData) => void, thisArg?: unknown): void {
    if (typeof cb !== "function") throw new TypeError("FormData.forEach needs a callback function");
    for (let i = 0; i < this.#entries.length; i++) {
      const [k, v] = this.#entries[i]!;
      cb.call(thisArg, v, k, this);
    }
  }
  entries(): IterableIterator<Entry> {
    return new FormDataIterator(() => this.#entries, 0) as unknown as IterableIterator<Entry>;
  }
  keys(): IterableIterator<string> {
    return new FormDataIterator(() => this.#entries, 1) as unknown as IterableIterator<string>;
  }
  values(): IterableIterator<string | File> {
    return new FormDataIterator(() => this.#entries, 2) as unknown as IterableIterator<string | File>;
  }
  declare [Symbol.iterator]: () => IterableIterator<Entry>;
}
// WebIDL: @@iterator is the very same function object as entries().
Object.defineProperty(FormData.prototype, Symbol.iterator, {
  value: Object.getOwnPropertyDescriptor(FormData.prototype, "entries")!.value as unknown,
  writable: true,
  configurable: true,
});
idl(FormData, "FormData", 0);

// Names and filenames are escaped one way (LF, CR and '"' only); names, like string values, have
// their line breaks normalised to CRLF first. (HTML "multipart/form-data encoding algorithm".)
const crlf = (s: string): string => s.replace(/\r\n|\r|\n/g, "\r\n");
const escape = (s: string): string => s.replace(/\n/g, "%0A").replace(/\r/g, "%0D").replace(/"/g, "%22");

/** Serialises FormData as multipart/form-data; returns the bytes and the content type. */
export function encodeMultipart(form: FormData): { bytes: Uint8Array; type: string } {
  const random = new Uint8Array(12);
  crypto.getRandomValues(random);
  const boundary = `----StratusFormBoundary${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  const parts: Uint8Array[] = [];
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${escape(crlf(name))}"`;
    if (typeof value === "string") {
      parts.push(enc.encode(`${head}\r\n\r\n${crlf(value)}\r\n`));
    } else {
      head += `; filename="${escape(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}`;
      parts.push(enc.encode(`${head}\r\n\r\n`), value._bytes, enc.encode("\r\n"));
    }
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  return { bytes: concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  const first = needle[0]!;
  const last = hay.length - needle.length;
  for (let i = hay.indexOf(first, from); i !== -1 && i <= last; i = hay.indexOf(first, i + 1)) {
    let j = 1;
    while (j < needle.length && hay[i + j] === needle[j]) j++;
    if (j === needle.length) return i;
  }
  return -1;
}

const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const QUOTED_OK = /^[\t\x20-\x7e\x80-\xff]*$/;

/** A parsed MIME type (WHATWG MIME Sniffing "parse a MIME type"). */
interface Mime {
  essence: string;
  params: Map<string, string>;
}

/** WHATWG "parse a MIME type"; null on failure. */
export function parseMime(input: string): Mime | null {
  const s = input.replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, "");
  const slash = s.indexOf("/");
  if (slash < 0) return null;
  const type = s.slice(0, slash);
  let at = s.indexOf(";", slash);
  if (at < 0) at = s.length;
  const subtype = s.slice(slash + 1, at).replace(/[\t\n\r ]+$/, "");
  if (!HTTP_TOKEN.test(type) || !HTTP_TOKEN.test(subtype)) return null;
  const params = new Map<string, string>();
  while (at < s.length) {
    at++; // the ";"
    while (at < s.length && /[\t\n\r ]/.test(s[at]!)) at++;
    let end = at;
    while (end < s.length && s[end] !== ";" && s[end] !== "=") end++;
    const name = s.slice(at, end).toLowerCase();
    at = end;
    if (at >= s.length) break;
    if (s[at] === ";") continue;
    at++; // the "="
    let value = "";
    if (s[at] === '"') {
      at++;
      while (at < s.length && s[at] !== '"') {
        if (s[at] === "\\" && at + 1 < s.length) at++;
        value += s[at++];
      }
      while (at < s.length && s[at] !== ";") at++;
    } else {
      end = s.indexOf(";", at);
      if (end < 0) end = s.length;
      value = s.slice(at, end).replace(/[\t\n\r ]+$/, "");
      at = end;
      if (value === "") continue;
    }
    if (name !== "" && HTTP_TOKEN.test(name) && QUOTED_OK.test(value) && !params.has(name)) params.set(name, value);
  }
  return { essence: `${type}/${subtype}`.toLowerCase(), params };
}

/** WHATWG "serialize a MIME type". */
function serializeMime(m: Mime): string {
  let out = m.essence;
  for (const [k, v] of m.params) out += `;${k}=${v !== "" && HTTP_TOKEN.test(v) ? v : `"${v.replace(/(["\\])/g, "\\$1")}"`}`;
  return out;
}

/** Fetch "extract a MIME type" from a (combined) Content-Type value: the last valid one wins. */
export function extractMime(value: string | null): Mime | null {
  if (value === null) return null;
  let found: Mime | null = null;
  for (const part of value.split(/,(?=(?:[^"]*"[^"]*")*[^"]*$)/)) {
    const m = parseMime(part);
    if (m === null || m.essence === "*/*") continue;
    found = m;
  }
  return found;
}

const CRLF = enc.encode("\r\n");

/** One part's headers as the multipart parser needs them. */
interface PartHead {
  name: string;
  filename: string | undefined;
  contentType: string[];
}

function fail(why: string): never {
  throw new TypeError(`formData(): the multipart/form-data body is malformed: ${why}`);
}

/** Content-Disposition: form-data; name="..."; filename="..." (quoted values are not unescaped). */
function disposition(value: string, head: PartHead): void {
  if (!/^form-data(?:[\t ]*;|[\t ]*$)/i.test(value)) fail(`a part's Content-Disposition is not form-data: ${JSON.stringify(value)}`);
  const re = /;[\t ]*([^=;\t ]+)[\t ]*=[\t ]*(?:"([^"]*)"|([^;]*))/g;
  let name: string | undefined;
  for (let m = re.exec(value); m !== null; m = re.exec(value)) {
    const key = m[1]!.toLowerCase();
    const v = m[2] ?? m[3]!.trim();
    if (key === "name" && name === undefined) name = v;
    else if (key === "filename" && head.filename === undefined) head.filename = v;
  }
  if (name === undefined) fail("a part's Content-Disposition has no name");
  head.name = name;
}

/** Parses a multipart/form-data body (Fetch "multipart/form-data parser"). */
function parseMultipart(bytes: Uint8Array, boundary: string): FormData {
  const form = new FormData();
  const delimiter = enc.encode(`--${boundary}`);
  const next = enc.encode(`\r\n--${boundary}`);
  const isPad = (b: number | undefined): boolean => b === 0x20 || b === 0x09;
  if (indexOf(bytes, delimiter, 0) !== 0) fail("it does not start with the boundary delimiter");
  let at = delimiter.length;
  for (;;) {
    if (bytes[at] === 0x2d && bytes[at + 1] === 0x2d) {
      at += 2;
      while (isPad(bytes[at])) at++;
      if (at === bytes.length || (bytes[at] === 0x0d && bytes[at + 1] === 0x0a)) return form;
      fail("there is something after the closing delimiter on its line");
    }
    while (isPad(bytes[at])) at++;
    if (bytes[at] !== 0x0d || bytes[at + 1] !== 0x0a) fail(at >= bytes.length ? "it ends after a delimiter" : "a delimiter line does not end in CRLF");
    at += 2;
    const head: PartHead = { name: "", filename: undefined, contentType: [] };
    let sawDisposition = false;
    for (;;) {
      const eol = indexOf(bytes, CRLF, at);
      if (eol < 0) fail("a part's headers do not end");
      if (eol === at) {
        at += 2;
        break;
      }
      const raw = bytes.subarray(at, eol);
      at = eol + 2;
      if (raw.includes(0x0a) || raw.includes(0x0d) || raw.includes(0)) fail("a header line has a bare CR, LF or NUL");
      const line = utf8Decode(raw).replace(/^[\t ]+/, "");
      const colon = line.indexOf(":");
      if (colon < 0) fail(`a header line has no colon: ${JSON.stringify(line.slice(0, 60))}`);
      const name = line.slice(0, colon).replace(/[\t ]+$/, "");
      if (!HTTP_TOKEN.test(name)) fail(`a header name is not a token: ${JSON.stringify(name)}`);
      const value = line.slice(colon + 1).replace(/^[\t ]+|[\t ]+$/g, "");
      const lower = name.toLowerCase();
      if (lower === "content-disposition") {
        disposition(value, head);
        sawDisposition = true;
      } else if (lower === "content-type") head.contentType.push(value);
    }
    if (!sawDisposition) fail("a part has no Content-Disposition header");
    const end = indexOf(bytes, next, at);
    if (end < 0) fail("it is not closed by a delimiter");
    const body = bytes.slice(at, end);
    at = end + next.length;
    if (head.filename === undefined) form.append(head.name, utf8Decode(body));
    else {
      const mime = head.contentType.length === 0 ? "text/plain" : extractMime(head.contentType.join(", "));
      const type = mime === null ? "" : typeof mime === "string" ? mime : serializeMime(mime);
      form.append(head.name, File._named(body, head.filename, type));
    }
  }
}

/** Parses a body as FormData by its content type (multipart/form-data or urlencoded). */
export function parseFormData(bytes: Uint8Array, contentType: string | null): FormData {
  const mime = extractMime(contentType);
  if (mime?.essence === "application/x-www-form-urlencoded") {
    const form = new FormData();
    for (const [k, v] of new URLSearchParams(utf8Decode(bytes)) as unknown as Iterable<[string, string]>) form.append(k, v);
    return form;
  }
  if (mime?.essence !== "multipart/form-data") {
    throw new TypeError(
      `formData(): the body is ${contentType ?? "without a content type"}; expected multipart/form-data or application/x-www-form-urlencoded`,
    );
  }
  const boundary = mime.params.get("boundary");
  if (!boundary) throw new TypeError("formData(): the multipart/form-data content type has no boundary parameter");
  return parseMultipart(bytes, boundary);
}
