/**
 * The wire format between the host and the dispatcher inside an isolate: one module for both sides
 * (instance.ts imports it; the sandbox prelude bundles it, so it uses no Node API).
 *
 * Requests go in as strings the host builds (trusted). Everything that comes out of an isolate is
 * hostile input, since user code shares the dispatcher's realm and can rewrite any built-in it
 * uses: the decoders here check and bound every field, never throw, never allocate in proportion to
 * a length they were told (only to what they were given), and turn anything malformed into a
 * `Violation` that fails that one request with STRATUS_E_BAD_RESPONSE.
 *
 * The format (docs/runtime.md, "The host boundary"):
 *
 *   request batch  ("id,mLen,uLen,hLen,pLen;" method url head params)*   pLen -1: no params
 *   reply batch    done(frames, bodies): frames is (id "\x01" len "\x01" payload)*, len in UTF-16 units;
 *                  bodies is an array of Uint8Array that "R" payloads point into
 *   "R" payload    "R\n" status "\n" waits "\n" streamId "\n" bodyIndex "\n" statusText "\n" count "\n"
 *                  (name "\n" value "\n"){count} text
 *   "E" payload    "E\n" code "\n" message
 *   "T" payload    "T\n" JSON [[0] | [1, code, message, permanent], ...], one per unit of work
 */

/** At most this many response headers (Node's own limit for incoming ones is 2000). */
export const MAX_HEADERS = 1000;
/** At most this many characters in a response's statusText, header names and values together. */
export const MAX_HEAD_CHARS = 128 * 1024;
/** statusText longer than this is refused. */
export const MAX_STATUS_TEXT = 1024;
/** Error messages and task messages are cut to this many characters. */
export const MAX_MESSAGE = 64 * 1024;

/** What a malformed reply becomes: it fails its own request, nothing else. */
export interface Violation {
  readonly violation: true;
  readonly code: "STRATUS_E_BAD_RESPONSE";
  readonly message: string;
}

/** A well-formed response reply. */
export interface WireResponse {
  readonly kind: "R";
  readonly status: number;
  readonly statusText: string;
  /** Flat [name, value, ...], names lowercase tokens, values legal HTTP field values. */
  readonly headers: string[];
  /** Text body, bytes body, or null when the body is streamed (streamId) or absent. */
  readonly body: string | Uint8Array | null;
  readonly streamId: number;
  /** ctx.waitUntil promises still running. */
  readonly waits: number;
}

/** A well-formed error reply (the code has the STRATUS_E_ shape; the host checks it is known). */
export interface WireError {
  readonly kind: "E";
  readonly code: string;
  readonly message: string;
}

/** One unit of task work as the isolate reports it. */
export type TaskOutcomeWire = [0] | [1, string, string, boolean];

function violation(message: string): Violation {
  return { violation: true, code: "STRATUS_E_BAD_RESPONSE", message };
}

/** Is `v` a Violation (as opposed to a decoded value)? */
export function isViolation(v: unknown): v is Violation {
  return typeof v === "object" && v !== null && (v as { violation?: unknown }).violation === true;
}

/** A bounded quote of hostile text for an error message. */
export function quote(s: string, max = 60): string {
  return JSON.stringify(s.length > max ? `${s.slice(0, max)}...` : s);
}

// ---- host side: building requests --------------------------------------------------------------

/** One body-less request of a batch (host side). */
export function encodeRequest(id: number, method: string, url: string, head: string, params: string | null): string {
  return `${id},${method.length},${url.length},${head.length},${params === null ? -1 : params.length};${method}${url}${head}${params ?? ""}`;
}

/** Splits a request batch built by encodeRequest (isolate side; the host built it). */
export function decodeRequests(batch: string, each: (id: number, method: string, url: string, head: string, params: string | null) => void): void {
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
    each(id, method, url, head, params);
  }
}

// ---- isolate side: building replies ------------------------------------------------------------

/** One reply frame of a batch. */
export function encodeFrame(id: number, payload: string): string {
  return `${id}\x01${payload.length}\x01${payload}`;
}

/** An "E" payload. */
export function encodeError(code: string, message: string): string {
  return `E\n${code}\n${message}`;
}

/** A "T" payload. */
export function encodeTask(outcomes: readonly TaskOutcomeWire[]): string {
  return `T\n${JSON.stringify(outcomes)}`;
}

/**
 * An "R" payload, or an "E" payload naming the field that cannot be framed (a line break in
 * statusText or a header would shift every field after it). The host checks the rest.
 */
export function encodeResponse(
  status: number,
  waits: number,
  streamId: number,
  bodyIndex: number,
  statusText: string,
  flat: readonly string[],
  text: string,
): string {
  if (statusText.includes("\n") || statusText.includes("\r")) {
    return encodeError("STRATUS_E_BAD_RESPONSE", `the Response's statusText ${quote(statusText)} contains a line break; a reason phrase is one line`);
  }
  let head = "";
  for (let i = 0; i < flat.length; i++) {
    const f = flat[i]!;
    if (f.includes("\n") || f.includes("\r")) {
      return encodeError("STRATUS_E_BAD_RESPONSE", `the Response's header ${i % 2 === 0 ? "name" : "value"} ${quote(f)} contains a line break`);
    }
    head += `${f}\n`;
  }
  return `R\n${status}\n${waits}\n${streamId}\n${bodyIndex}\n${statusText}\n${flat.length >> 1}\n${head}${text}`;
}

// ---- host side: reading replies (hostile input) ------------------------------------------------

/**
 * Reads a canonical decimal (no sign, no leading zero, at most `max`) ending at `end` in `s`
 * starting at `at`; returns the value, or -1 when the text is not one.
 */
function readUint(s: string, at: number, end: number, max: number): number {
  const len = end - at;
  if (len < 1 || len > 16) return -1;
  if (len > 1 && s.charCodeAt(at) === 48) return -1;
  let n = 0;
  for (let i = at; i < end; i++) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n <= max ? n : -1;
}

/**
 * Splits a reply batch into frames, calling `each(id, payload)` for every one. Returns null, or a
 * description of the first framing error (the frames before it were delivered; the rest of the
 * batch cannot be trusted to line up, so the caller stops the instance).
 */
export function decodeFrames(batch: unknown, each: (id: number, payload: string) => void): string | null {
  if (typeof batch !== "string") return `the reply batch is a ${batch === null ? "null" : typeof batch}, not a string`;
  let at = 0;
  while (at < batch.length) {
    const a = batch.indexOf("\x01", at);
    if (a < 0 || a - at > 16) return `a reply frame at offset ${at} has no id`;
    const id = readUint(batch, at, a, Number.MAX_SAFE_INTEGER);
    if (id < 1) return `a reply frame at offset ${at} has id ${quote(batch.slice(at, a))}`;
    const b = batch.indexOf("\x01", a + 1);
    if (b < 0 || b - a - 1 > 16) return `reply ${id} has no length`;
    const len = readUint(batch, a + 1, b, batch.length - b - 1);
    if (len < 0) return `reply ${id} claims length ${quote(batch.slice(a + 1, b))}, but ${batch.length - b - 1} characters are left`;
    each(id, batch.slice(b + 1, b + 1 + len));
    at = b + 1 + len;
  }
  return null;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
// RFC 9110 field-value and reason-phrase characters: HTAB, SP, VCHAR, obs-text.
const ILLEGAL_FIELD_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Decodes an "R" or "E" payload. `bodies` is what came with the batch (the host checks nothing
 * about it until a payload points into it).
 */
export function decodeReply(payload: string, bodies: unknown): WireResponse | WireError | Violation {
  const kind = payload.charCodeAt(0);
  if (kind === 69 /* E */) {
    if (payload.charCodeAt(1) !== 10) return violation(`an error reply starts with ${quote(payload.slice(0, 8))}`);
    const nl = payload.indexOf("\n", 2);
    if (nl < 0 || nl - 2 > 64) return violation("an error reply has no code line");
    const code = payload.slice(2, nl);
    if (!/^STRATUS_E_[A-Z0-9_]{1,54}$/.test(code)) return violation(`an error reply has code ${quote(code)}`);
    const message = payload.length - nl - 1 > MAX_MESSAGE ? `${payload.slice(nl + 1, nl + 1 + MAX_MESSAGE)}... (cut)` : payload.slice(nl + 1);
    return { kind: "E", code, message };
  }
  if (kind !== 82 /* R */ || payload.charCodeAt(1) !== 10) return violation(`a reply starts with ${quote(payload.slice(0, 8))}; expected "R" or "E"`);
  let at = 2;
  // Each numeric field is at most 16 digits, so a missing separator is found within 17 characters.
  const num = (what: string, max: number): number | Violation => {
    const nl = payload.indexOf("\n", at);
    if (nl < 0 || nl - at > 16) return violation(`the reply has no ${what}`);
    const n = readUint(payload, at, nl, max);
    if (n < 0) return violation(`the reply's ${what} is ${quote(payload.slice(at, nl))}; it must be a decimal from 0 to ${max}`);
    at = nl + 1;
    return n;
  };
  const status = num("status", 999);
  if (typeof status !== "number") return status;
  if (status < 200 || status > 599) return violation(`the Response's status is ${status}; it must be 200-599`);
  const waits = num("waitUntil count", 0x7fffffff);
  if (typeof waits !== "number") return waits;
  const streamId = num("stream id", Number.MAX_SAFE_INTEGER);
  if (typeof streamId !== "number") return streamId;
  const bodyIndex = num("body index", 0x7fffffff);
  if (typeof bodyIndex !== "number") return bodyIndex;
  let nl = payload.indexOf("\n", at);
  if (nl < 0 || nl - at > MAX_STATUS_TEXT)
    return violation(nl < 0 ? "the reply has no statusText" : `the Response's statusText is over ${MAX_STATUS_TEXT} characters`);
  const statusText = payload.slice(at, nl);
  if (ILLEGAL_FIELD_CHAR.test(statusText)) return violation(`the Response's statusText ${quote(statusText)} has a character HTTP cannot carry`);
  at = nl + 1;
  const count = num("header count", MAX_HEADERS);
  if (typeof count !== "number") return count;
  const headers: string[] = [];
  let budget = MAX_HEAD_CHARS - statusText.length;
  for (let i = 0; i < count; i++) {
    nl = payload.indexOf("\n", at);
    if (nl < 0) return violation(`the reply ends inside header ${i + 1} of ${count}`);
    const name = payload.slice(at, nl);
    at = nl + 1;
    nl = payload.indexOf("\n", at);
    if (nl < 0) return violation(`the reply ends inside header ${i + 1} of ${count}`);
    const value = payload.slice(at, nl);
    at = nl + 1;
    budget -= name.length + value.length;
    if (budget < 0) return violation(`the Response's headers are over ${MAX_HEAD_CHARS} characters`);
    if (!TOKEN.test(name)) return violation(`the Response has header name ${quote(name)}; names are lowercase HTTP tokens`);
    if (ILLEGAL_FIELD_CHAR.test(value)) return violation(`the Response's header "${name}" has value ${quote(value)} with a character HTTP cannot carry`);
    headers.push(name, value);
  }
  const text = payload.slice(at);
  if (streamId !== 0 && bodyIndex !== 0) return violation("the reply has both a stream and a bytes body");
  let body: string | Uint8Array | null = text;
  if (streamId !== 0 || bodyIndex !== 0) {
    if (text.length > 0) return violation("the reply has a text body beside a stream or bytes body");
    body = null;
  }
  if (bodyIndex !== 0) {
    const b = Array.isArray(bodies) && bodyIndex <= bodies.length ? (bodies[bodyIndex - 1] as unknown) : undefined;
    if (!(b instanceof Uint8Array)) return violation(`the reply's body ${bodyIndex} is missing or not a Uint8Array`);
    body = b;
  }
  return { kind: "R", status, statusText, headers, body, streamId, waits };
}

/** Decodes a "T" payload: exactly `units` outcomes, each [0] or [1, code, message, permanent]. */
export function decodeTask(payload: string, units: number): TaskOutcomeWire[] | Violation {
  if (payload.charCodeAt(0) !== 84 /* T */ || payload.charCodeAt(1) !== 10) return violation(`a task reply starts with ${quote(payload.slice(0, 8))}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.slice(2));
  } catch {
    return violation("a task reply is not JSON");
  }
  if (!Array.isArray(parsed) || parsed.length !== units)
    return violation(`a task reply has ${Array.isArray(parsed) ? parsed.length : "no"} outcomes for ${units} units of work`);
  const out: TaskOutcomeWire[] = [];
  for (const o of parsed as unknown[]) {
    if (Array.isArray(o) && o.length === 1 && o[0] === 0) out.push([0]);
    else if (
      Array.isArray(o) &&
      o.length === 4 &&
      o[0] === 1 &&
      typeof o[1] === "string" &&
      /^STRATUS_E_[A-Z0-9_]{1,54}$/.test(o[1]) &&
      typeof o[2] === "string" &&
      typeof o[3] === "boolean"
    ) {
      out.push([1, o[1], o[2].length > MAX_MESSAGE ? `${o[2].slice(0, MAX_MESSAGE)}... (cut)` : o[2], o[3]]);
    } else return violation("a task reply has an outcome that is not [0] or [1, code, message, permanent]");
  }
  return out;
}

/** A pulled stream chunk: a Uint8Array, or null at the end. */
export function decodeChunk(v: unknown): Uint8Array | null | Violation {
  if (v === null || v instanceof Uint8Array) return v;
  return violation(`a streamed body chunk is a ${v === undefined ? "undefined" : Array.isArray(v) ? "array" : typeof v}, not a Uint8Array`);
}
