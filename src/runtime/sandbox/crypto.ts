// Sandbox code: the isolate's `crypto`. getRandomValues and randomUUID draw from the host's CSPRNG;
// crypto.subtle runs on the host's WebCrypto (Node's), statelessly: a CryptoKey inside the isolate
// holds its key material in a slot script cannot read, and each operation hands it to the host
// with the data, so no key table outlives or leaks across instances.
import { DOMException } from "./dom-exception.ts";

/** What crypto needs from the host (set by the prelude once the host bridge is there). */
export interface CryptoHost {
  random(n: number): Uint8Array;
  subtle(op: string, args: unknown[]): Promise<unknown>;
}
let host: CryptoHost | null = null;
/** Connects crypto to the host. */
export function setCryptoHost(h: CryptoHost): void {
  host = h;
}
function bridge(): CryptoHost {
  if (!host) throw new Error("Stratus: the isolate is not initialised");
  return host;
}

const CREATE = Symbol("create");
const INTEGER_ARRAYS = [
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "BigInt64Array",
  "BigUint64Array",
];
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with .call() as a brand check
const typedArrayName = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(Uint8Array.prototype) as object, Symbol.toStringTag)!.get!;

/** The key as the host stores it between calls. */
interface KeyRecord {
  type: "secret" | "public" | "private";
  extractable: boolean;
  algorithm: Record<string, unknown>;
  usages: string[];
  format: "raw" | "jwk";
  data: Uint8Array | Record<string, unknown>;
}

const keySlots = new WeakMap<object, { record: KeyRecord; algorithm: unknown; usages: string[] | null }>();

/** A WebCrypto CryptoKey; its material never leaves its slot except to the host. */
export class CryptoKey {
  constructor(token?: symbol) {
    if (token !== CREATE) throw new TypeError("Illegal constructor: CryptoKeys come from crypto.subtle");
  }
  get type(): string {
    return slot(this).record.type;
  }
  get extractable(): boolean {
    return slot(this).record.extractable;
  }
  get algorithm(): unknown {
    return slot(this).algorithm;
  }
  get usages(): string[] {
    const s = slot(this);
    return (s.usages ??= Object.freeze([...s.record.usages]) as string[]);
  }
}

function slot(k: unknown): { record: KeyRecord; algorithm: unknown; usages: string[] | null } {
  const s = typeof k === "object" && k !== null ? keySlots.get(k) : undefined;
  if (!s) throw new TypeError("not a CryptoKey");
  return s;
}

function toKey(record: KeyRecord): CryptoKey {
  const k = new CryptoKey(CREATE);
  const alg = { ...record.algorithm };
  if (alg["publicExponent"] instanceof Uint8Array) alg["publicExponent"] = new Uint8Array(alg["publicExponent"]);
  keySlots.set(k, { record, algorithm: alg, usages: null });
  return k;
}

function bufferSource(v: unknown, what: string): Uint8Array {
  if (v instanceof ArrayBuffer) return new Uint8Array(v.slice(0));
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  throw new TypeError(`${what} must be an ArrayBuffer, a typed array or a DataView`);
}

/** Dictionary members of every algorithm's parameters the host needs, read the way WebIDL does. */
const MEMBERS = [
  "name",
  "hash",
  "length",
  "namedCurve",
  "iv",
  "additionalData",
  "tagLength",
  "counter",
  "salt",
  "info",
  "iterations",
  "public",
  "label",
  "saltLength",
  "modulusLength",
  "publicExponent",
  "context",
];

function algorithm(a: unknown): unknown {
  if (typeof a === "string") return a;
  if (typeof a !== "object" || a === null) throw new TypeError("the algorithm must be a string or an object with a name");
  const o = a as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const m of MEMBERS) {
    const v = o[m];
    if (v === undefined) continue;
    if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) out[m] = bufferSource(v, `algorithm.${m}`);
    else if (keySlots.has(v as object)) out[m] = { __key: slot(v).record };
    else if (m === "hash") out[m] = algorithm(v);
    else if (typeof v === "object" && v !== null) throw new TypeError(`algorithm.${m} has the wrong type`);
    else out[m] = v;
  }
  return out;
}

function usages(u: unknown): string[] {
  if (u === null || typeof u !== "object" || typeof (u as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
    throw new TypeError("keyUsages must be a sequence of strings");
  }
  return [...(u as Iterable<unknown>)].map(String);
}

/** Runs one operation on the host and turns its failure back into the right exception. */
async function call(op: string, args: unknown[]): Promise<unknown> {
  const r = (await bridge().subtle(op, args)) as [0, unknown] | [1, string, string] | [2, string];
  if (r[0] === 0) return r[1];
  if (r[0] === 2) throw new TypeError(r[1]);
  throw new DOMException(r[2], r[1]);
}

function arrayBuffer(v: unknown): ArrayBuffer {
  const u = v as Uint8Array;
  return u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;
}

function keyOrPair(v: unknown): CryptoKey | { publicKey: CryptoKey; privateKey: CryptoKey } {
  const o = v as KeyRecord | { publicKey: KeyRecord; privateKey: KeyRecord };
  if ("publicKey" in o) return { publicKey: toKey(o.publicKey), privateKey: toKey(o.privateKey) };
  return toKey(o);
}

function needArgs(what: string, n: number, got: number): void {
  if (got < n) throw new TypeError(`SubtleCrypto.${what}: ${n} arguments required, but only ${got} present`);
}

/** WebCrypto's SubtleCrypto. */
export class SubtleCrypto {
  constructor(token?: symbol) {
    if (token !== CREATE) throw new TypeError("Illegal constructor: use crypto.subtle");
  }
  async digest(alg: unknown, data: unknown): Promise<ArrayBuffer> {
    needArgs("digest", 2, arguments.length);
    return arrayBuffer(await call("digest", [algorithm(alg), bufferSource(data, "data")]));
  }
  async encrypt(alg: unknown, key: CryptoKey, data: unknown): Promise<ArrayBuffer> {
    needArgs("encrypt", 3, arguments.length);
    return arrayBuffer(await call("encrypt", [algorithm(alg), slot(key).record, bufferSource(data, "data")]));
  }
  async decrypt(alg: unknown, key: CryptoKey, data: unknown): Promise<ArrayBuffer> {
    needArgs("decrypt", 3, arguments.length);
    return arrayBuffer(await call("decrypt", [algorithm(alg), slot(key).record, bufferSource(data, "data")]));
  }
  async sign(alg: unknown, key: CryptoKey, data: unknown): Promise<ArrayBuffer> {
    needArgs("sign", 3, arguments.length);
    return arrayBuffer(await call("sign", [algorithm(alg), slot(key).record, bufferSource(data, "data")]));
  }
  async verify(alg: unknown, key: CryptoKey, signature: unknown, data: unknown): Promise<boolean> {
    needArgs("verify", 4, arguments.length);
    return (await call("verify", [algorithm(alg), slot(key).record, bufferSource(signature, "signature"), bufferSource(data, "data")])) as boolean;
  }
  async generateKey(alg: unknown, extractable: boolean, keyUsages: Iterable<string>): Promise<CryptoKey | { publicKey: CryptoKey; privateKey: CryptoKey }> {
    needArgs("generateKey", 3, arguments.length);
    return keyOrPair(await call("generateKey", [algorithm(alg), Boolean(extractable), usages(keyUsages)]));
  }
  async importKey(format: string, keyData: unknown, alg: unknown, extractable: boolean, keyUsages: Iterable<string>): Promise<CryptoKey> {
    needArgs("importKey", 5, arguments.length);
    const f = String(format);
    const data = f === "jwk" ? jwk(keyData) : bufferSource(keyData, "keyData");
    return toKey((await call("importKey", [f, data, algorithm(alg), Boolean(extractable), usages(keyUsages)])) as KeyRecord);
  }
  async exportKey(format: string, key: CryptoKey): Promise<ArrayBuffer | Record<string, unknown>> {
    needArgs("exportKey", 2, arguments.length);
    const s = slot(key);
    if (!s.record.extractable) throw new DOMException("exportKey: the key is not extractable", "InvalidAccessError");
    const out = await call("exportKey", [String(format), s.record]);
    return String(format) === "jwk" ? (out as Record<string, unknown>) : arrayBuffer(out);
  }
  async deriveBits(alg: unknown, baseKey: CryptoKey, length: number | null = null): Promise<ArrayBuffer> {
    needArgs("deriveBits", 2, arguments.length);
    return arrayBuffer(await call("deriveBits", [algorithm(alg), slot(baseKey).record, length === null || length === undefined ? null : Number(length)]));
  }
  async deriveKey(alg: unknown, baseKey: CryptoKey, derivedKeyType: unknown, extractable: boolean, keyUsages: Iterable<string>): Promise<CryptoKey> {
    needArgs("deriveKey", 5, arguments.length);
    return toKey(
      (await call("deriveKey", [algorithm(alg), slot(baseKey).record, algorithm(derivedKeyType), Boolean(extractable), usages(keyUsages)])) as KeyRecord,
    );
  }
  async wrapKey(format: string, key: CryptoKey, wrappingKey: CryptoKey, wrapAlgorithm: unknown): Promise<ArrayBuffer> {
    needArgs("wrapKey", 4, arguments.length);
    const s = slot(key);
    if (!s.record.extractable) throw new DOMException("wrapKey: the key is not extractable", "InvalidAccessError");
    return arrayBuffer(await call("wrapKey", [String(format), s.record, slot(wrappingKey).record, algorithm(wrapAlgorithm)]));
  }
  async unwrapKey(
    format: string,
    wrappedKey: unknown,
    unwrappingKey: CryptoKey,
    unwrapAlgorithm: unknown,
    unwrappedKeyAlgorithm: unknown,
    extractable: boolean,
    keyUsages: Iterable<string>,
  ): Promise<CryptoKey> {
    needArgs("unwrapKey", 7, arguments.length);
    return toKey(
      (await call("unwrapKey", [
        String(format),
        bufferSource(wrappedKey, "wrappedKey"),
        slot(unwrappingKey).record,
        algorithm(unwrapAlgorithm),
        algorithm(unwrappedKeyAlgorithm),
        Boolean(extractable),
        usages(keyUsages),
      ])) as KeyRecord,
    );
  }
}

/** A JSON Web Key as a plain copy (only JSON values cross to the host). */
function jwk(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null) throw new TypeError("keyData must be a JsonWebKey object for the jwk format");
  return JSON.parse(JSON.stringify(v)) as Record<string, unknown>;
}

const subtle = new SubtleCrypto(CREATE);

/** WebCrypto's Crypto. */
export class Crypto {
  constructor(token?: symbol) {
    if (token !== CREATE) throw new TypeError("Illegal constructor: use the global crypto");
  }
  get subtle(): SubtleCrypto {
    if (!(this instanceof Crypto)) throw new TypeError("not a Crypto");
    return subtle;
  }
  getRandomValues<T extends ArrayBufferView>(array: T): T {
    if (!(this instanceof Crypto)) throw new TypeError("Crypto.getRandomValues called on an object that is not a Crypto");
    if (arguments.length < 1) throw new TypeError("Crypto.getRandomValues: 1 argument required, but only 0 present");
    if (!ArrayBuffer.isView(array)) throw new TypeError("Crypto.getRandomValues: the argument must be an integer typed array");
    const name = typedArrayName.call(array) as string | undefined;
    if (name === undefined || !INTEGER_ARRAYS.includes(name)) {
      throw new DOMException(`Crypto.getRandomValues: a ${name ?? "DataView"} cannot be filled; use an integer typed array`, "TypeMismatchError");
    }
    if (array.byteLength > 65536) {
      throw new DOMException(`Crypto.getRandomValues: ${array.byteLength} bytes asked for, at most 65536 at a time`, "QuotaExceededError");
    }
    if (array.byteLength > 0) new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bridge().random(array.byteLength));
    return array;
  }
  randomUUID(): string {
    if (!(this instanceof Crypto)) throw new TypeError("Crypto.randomUUID called on an object that is not a Crypto");
    const b = bridge().random(16);
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
}

/** The global `crypto`. */
export const crypto = new Crypto(CREATE);

for (const C of [Crypto, SubtleCrypto, CryptoKey]) {
  const proto = C.prototype as object;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === "constructor") continue;
    Object.defineProperty(proto, key, { ...Object.getOwnPropertyDescriptor(proto, key)!, enumerable: true });
  }
  Object.defineProperty(proto, Symbol.toStringTag, { value: C.name, configurable: true });
}
