// Sandbox code: compiled into the isolate prelude, never loaded by Node.
/**
 * Blob, File and FormData, with multipart/form-data and urlencoded parsing and multipart
 * serialisation, for Request/Response bodies. Hand-written: the well-kept polyfills
 * (fetch-blob, formdata-polyfill) reach for Node streams at load time.
 */

import { ReadableStream } from "web-streams-polyfill";

const enc = new TextEncoder();
const dec = new TextDecoder();

type BlobPart = string | ArrayBuffer | ArrayBufferView | Blob;

function partBytes(p: BlobPart): Uint8Array {
  if (typeof p === "string") return enc.encode(p);
  if (p instanceof Blob) return p._bytes;
  if (p instanceof ArrayBuffer) return new Uint8Array(p.slice(0));
  return new Uint8Array(p.buffer.slice(p.byteOffset, p.byteOffset + p.byteLength));
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The File API Blob, kept as bytes in memory. */
export class Blob {
  readonly _bytes: Uint8Array;
  readonly type: string;
  constructor(parts: BlobPart[] = [], options?: { type?: string }) {
    this._bytes = concat(parts.map(partBytes));
    this.type = (options?.type ?? "").toLowerCase();
  }
  get size(): number {
    return this._bytes.byteLength;
  }
  async text(): Promise<string> {
    return dec.decode(this._bytes);
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    return this._bytes.slice().buffer;
  }
  async bytes(): Promise<Uint8Array> {
    return this._bytes.slice();
  }
  slice(start?: number, end?: number, type?: string): Blob {
    return new Blob([this._bytes.slice(start, end)], { type: type ?? "" });
  }
  stream(): ReadableStream<Uint8Array> {
    const bytes = this._bytes;
    return new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(bytes.slice());
        c.close();
      },
    });
  }
  get [Symbol.toStringTag](): string {
    return "Blob";
  }
}

/** A Blob with a name. */
export class File extends Blob {
  readonly name: string;
  readonly lastModified: number;
  constructor(parts: BlobPart[], name: string, options?: { type?: string; lastModified?: number }) {
    super(parts, options);
    this.name = String(name);
    this.lastModified = options?.lastModified ?? Date.now();
  }
  get [Symbol.toStringTag](): string {
    return "File";
  }
}

type Entry = [string, string | File];

function toEntryValue(value: string | Blob, filename?: string): string | File {
  if (!(value instanceof Blob)) return String(value);
  if (value instanceof File && filename === undefined) return value;
  return new File([value], filename ?? (value instanceof File ? value.name : "blob"), { type: value.type });
}

/** The Fetch standard FormData. */
export class FormData {
  #entries: Entry[] = [];
  append(name: string, value: string | Blob, filename?: string): void {
    this.#entries.push([String(name), toEntryValue(value, filename)]);
  }
  set(name: string, value: string | Blob, filename?: string): void {
    const n = String(name);
    const v = toEntryValue(value, filename);
    const i = this.#entries.findIndex(([k]) => k === n);
    this.#entries = this.#entries.filter(([k], j) => k !== n || j === i);
    if (i < 0) this.#entries.push([n, v]);
    else this.#entries[this.#entries.findIndex(([k]) => k === n)] = [n, v];
  }
  get(name: string): string | File | null {
    return this.#entries.find(([k]) => k === String(name))?.[1] ?? null;
  }
  getAll(name: string): (string | File)[] {
    return this.#entries.filter(([k]) => k === String(name)).map(([, v]) => v);
  }
  has(name: string): boolean {
    return this.#entries.some(([k]) => k === String(name));
  }
  delete(name: string): void {
    this.#entries = this.#entries.filter(([k]) => k !== String(name));
  }
  forEach(cb: (value: string | File, key: string, parent: FormData) => void, thisArg?: unknown): void {
    for (const [k, v] of this.#entries) cb.call(thisArg, v, k, this);
  }
  *entries(): IterableIterator<Entry> {
    yield* this.#entries.map(([k, v]) => [k, v] as Entry);
  }
  *keys(): IterableIterator<string> {
    for (const [k] of this.#entries) yield k;
  }
  *values(): IterableIterator<string | File> {
    for (const [, v] of this.#entries) yield v;
  }
  [Symbol.iterator](): IterableIterator<Entry> {
    return this.entries();
  }
  get [Symbol.toStringTag](): string {
    return "FormData";
  }
}

const quote = (s: string): string => s.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");

/** Serialises FormData as multipart/form-data; returns the bytes and the content type. */
export function encodeMultipart(form: FormData): { bytes: Uint8Array; type: string } {
  const random = new Uint8Array(12);
  crypto.getRandomValues(random);
  const boundary = `----StratusFormBoundary${Array.from(random, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  const parts: Uint8Array[] = [];
  for (const [name, value] of form) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${quote(name)}"`;
    if (typeof value === "string") {
      parts.push(enc.encode(`${head}\r\n\r\n`), enc.encode(value.replace(/\r?\n|\r/g, "\r\n")), enc.encode("\r\n"));
    } else {
      head += `; filename="${quote(value.name)}"\r\nContent-Type: ${value.type || "application/octet-stream"}`;
      parts.push(enc.encode(`${head}\r\n\r\n`), value._bytes, enc.encode("\r\n"));
    }
  }
  parts.push(enc.encode(`--${boundary}--\r\n`));
  return { bytes: concat(parts), type: `multipart/form-data; boundary=${boundary}` };
}

function indexOf(hay: Uint8Array, needle: Uint8Array, from: number): number {
  outer: for (let i = from; i <= hay.length - needle.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function param(header: string, name: string): string | undefined {
  const m = new RegExp(`;\\s*${name}="([^"]*)"|;\\s*${name}=([^;\\s]*)`, "i").exec(header);
  return m ? (m[1] ?? m[2]) : undefined;
}

/** Parses a body as FormData by its content type (multipart/form-data or urlencoded). */
export function parseFormData(bytes: Uint8Array, contentType: string | null): FormData {
  const type = (contentType ?? "").toLowerCase();
  const form = new FormData();
  if (type.startsWith("application/x-www-form-urlencoded")) {
    for (const [k, v] of new URLSearchParams(dec.decode(bytes)) as unknown as Iterable<[string, string]>) form.append(k, v);
    return form;
  }
  if (!type.startsWith("multipart/form-data")) {
    throw new TypeError(
      `formData(): the body is ${contentType ?? "without a content type"}; expected multipart/form-data or application/x-www-form-urlencoded`,
    );
  }
  const boundary = param(contentType!, "boundary");
  if (!boundary) throw new TypeError("formData(): the multipart/form-data content type has no boundary");
  const delimiter = enc.encode(`--${boundary}`);
  let at = indexOf(bytes, delimiter, 0);
  if (at < 0) throw new TypeError("formData(): the multipart body has no part boundary");
  for (;;) {
    at += delimiter.length;
    if (bytes[at] === 45 && bytes[at + 1] === 45) break; // "--": the closing delimiter
    at += 2; // CRLF after the delimiter
    const headEnd = indexOf(bytes, enc.encode("\r\n\r\n"), at);
    if (headEnd < 0) throw new TypeError("formData(): a multipart part has no header end");
    const head = dec.decode(bytes.subarray(at, headEnd));
    const next = indexOf(bytes, delimiter, headEnd + 4);
    if (next < 0) throw new TypeError("formData(): the multipart body is not closed");
    const body = bytes.slice(headEnd + 4, next - 2); // drop the CRLF before the delimiter
    const disposition = /content-disposition:([^\r\n]*)/i.exec(head)?.[1] ?? "";
    const name = param(disposition, "name");
    if (name !== undefined) {
      const filename = param(disposition, "filename");
      if (filename === undefined) form.append(name, dec.decode(body));
      else form.append(name, new File([body], filename, { type: /content-type:\s*([^\r\n]*)/i.exec(head)?.[1]?.trim() ?? "" }));
    }
    at = next;
  }
  return form;
}
