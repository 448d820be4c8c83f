/**
 * The host side of crypto.subtle inside the isolate: each call runs on Node's WebCrypto. It keeps
 * no state: a key crosses in as a record (its material as raw bytes or a JWK, its algorithm and
 * usages), is imported for the one operation and dropped, so nothing is shared between instances.
 * Failures come back as values ([1, DOMException name, message] or [2, TypeError message]) so the
 * isolate can rethrow the exception WebCrypto specifies.
 */
import { webcrypto } from "node:crypto";

type Subtle = typeof webcrypto.subtle;
type Key = webcrypto.CryptoKey;
type Algorithm = Parameters<Subtle["encrypt"]>[0];

/** A key as the isolate holds it (see src/runtime/sandbox/crypto.ts). */
interface KeyRecord {
  type: "secret" | "public" | "private";
  extractable: boolean;
  algorithm: Record<string, unknown>;
  usages: string[];
  format: "raw" | "jwk";
  data: Uint8Array | webcrypto.JsonWebKey;
}

/** Keys WebCrypto never lets out (so they cross as raw bytes and are imported non-extractable). */
const RAW_ONLY = new Set(["PBKDF2", "HKDF"]);
const subtle = webcrypto.subtle;

/** The material of `key` in a form it can be imported from again. */
async function toRecord(key: Key, extractable: boolean): Promise<KeyRecord> {
  const name = key.algorithm.name.toUpperCase();
  const secret = key.type === "secret";
  const format = secret ? "raw" : "jwk";
  const data = RAW_ONLY.has(name) ? null : format === "raw" ? new Uint8Array(await subtle.exportKey("raw", key)) : await subtle.exportKey("jwk", key);
  return {
    type: key.type,
    extractable,
    algorithm: { ...(key.algorithm as unknown as Record<string, unknown>) },
    usages: [...key.usages],
    format,
    data: data ?? new Uint8Array(0),
  };
}

/** A Node CryptoKey for `r`, for one operation. */
async function fromRecord(r: KeyRecord): Promise<Key> {
  guard(r.algorithm);
  const name = String(r.algorithm["name"]).toUpperCase();
  const data = r.format === "raw" ? (r.data as Uint8Array) : (r.data as webcrypto.JsonWebKey);
  const usages = r.usages as webcrypto.KeyUsage[];
  if (r.format === "raw") return subtle.importKey("raw", data as Uint8Array, r.algorithm as unknown as Algorithm, !RAW_ONLY.has(name), usages);
  return subtle.importKey("jwk", data as webcrypto.JsonWebKey, r.algorithm as unknown as Algorithm, true, usages);
}

/**
 * The algorithms of the WebCrypto standard plus Ed25519/X25519. Node has more (some with work or
 * memory factors a caller picks, like Argon2), which a function could use to load the host.
 */
const ALLOWED = new Set([
  "RSASSA-PKCS1-V1_5",
  "RSA-PSS",
  "RSA-OAEP",
  "ECDSA",
  "ECDH",
  "ED25519",
  "X25519",
  "AES-CTR",
  "AES-CBC",
  "AES-GCM",
  "AES-KW",
  "HMAC",
  "SHA-1",
  "SHA-256",
  "SHA-384",
  "SHA-512",
  "HKDF",
  "PBKDF2",
]);
/** The work a single call may ask of the host's thread pool (it is not counted as the function's CPU). */
export const MAX_PBKDF2_ITERATIONS = 1_000_000;
export const MAX_RSA_MODULUS_BITS = 4096;

/** Refuses algorithms outside ALLOWED and work factors over the limits, before Node sees them. */
function guard(a: unknown): void {
  const name = typeof a === "string" ? a : typeof a === "object" && a !== null ? (a as { name?: unknown }).name : undefined;
  if (typeof name !== "string") return; // WebCrypto itself rejects it with the right error
  if (!ALLOWED.has(name.toUpperCase())) {
    throw new DOMException(`crypto.subtle: the algorithm ${JSON.stringify(name)} is not supported here`, "NotSupportedError");
  }
  if (typeof a !== "object" || a === null) return;
  const o = a as Record<string, unknown>;
  if (o["hash"] !== undefined) guard(o["hash"]);
  if (typeof o["iterations"] === "number" && o["iterations"] > MAX_PBKDF2_ITERATIONS) {
    throw new DOMException(
      `crypto.subtle: PBKDF2 with ${o["iterations"]} iterations is over the limit of ${MAX_PBKDF2_ITERATIONS}; use fewer iterations`,
      "NotSupportedError",
    );
  }
  if (typeof o["modulusLength"] === "number" && o["modulusLength"] > MAX_RSA_MODULUS_BITS) {
    throw new DOMException(
      `crypto.subtle: RSA keys of ${o["modulusLength"]} bits are over the limit of ${MAX_RSA_MODULUS_BITS}; use modulusLength 2048, 3072 or 4096`,
      "NotSupportedError",
    );
  }
}

/** Algorithm parameters with any nested key (ECDH's `public`) turned back into a Node key. */
async function algorithm(a: unknown): Promise<Algorithm> {
  guard(a);
  if (typeof a !== "object" || a === null) return a as Algorithm;
  const out: Record<string, unknown> = { ...(a as Record<string, unknown>) };
  for (const [k, v] of Object.entries(out)) {
    if (typeof v === "object" && v !== null && "__key" in v) out[k] = await fromRecord((v as { __key: KeyRecord }).__key);
  }
  return out as unknown as Algorithm;
}

/** PBKDF2/HKDF keys cannot be exported by WebCrypto: keep the bytes they were imported from. */
function withRawMaterial(rec: KeyRecord, raw: unknown): KeyRecord {
  if (RAW_ONLY.has(String(rec.algorithm["name"]).toUpperCase()) && raw instanceof Uint8Array) rec.data = raw;
  return rec;
}

async function run(op: string, args: unknown[]): Promise<unknown> {
  switch (op) {
    case "digest":
      return new Uint8Array(await subtle.digest(await algorithm(args[0]), args[1] as Uint8Array));
    case "encrypt":
      return new Uint8Array(await subtle.encrypt(await algorithm(args[0]), await fromRecord(args[1] as KeyRecord), args[2] as Uint8Array));
    case "decrypt":
      return new Uint8Array(await subtle.decrypt(await algorithm(args[0]), await fromRecord(args[1] as KeyRecord), args[2] as Uint8Array));
    case "sign":
      return new Uint8Array(await subtle.sign(await algorithm(args[0]), await fromRecord(args[1] as KeyRecord), args[2] as Uint8Array));
    case "verify":
      return subtle.verify(await algorithm(args[0]), await fromRecord(args[1] as KeyRecord), args[2] as Uint8Array, args[3] as Uint8Array);
    case "generateKey": {
      const [alg, extractable, usages] = args as [unknown, boolean, webcrypto.KeyUsage[]];
      const k = (await subtle.generateKey((await algorithm(alg)) as never, true, usages)) as Key | webcrypto.CryptoKeyPair;
      if ("publicKey" in k) {
        // WebCrypto makes a key pair's public key extractable whatever was asked.
        return { publicKey: await toRecord(k.publicKey, true), privateKey: await toRecord(k.privateKey, extractable) };
      }
      return toRecord(k, extractable);
    }
    case "importKey": {
      const [format, data, alg, extractable, usages] = args as [string, unknown, unknown, boolean, webcrypto.KeyUsage[]];
      const name = typeof alg === "string" ? alg : String((alg as { name?: unknown }).name);
      // Imported extractable (when WebCrypto allows it) so the material can be kept; the
      // isolate enforces the caller's `extractable`.
      const k = await subtle.importKey(format as "raw", data as Uint8Array, await algorithm(alg), !RAW_ONLY.has(name.toUpperCase()) || extractable, usages);
      return withRawMaterial(await toRecord(k, extractable), data);
    }
    case "exportKey": {
      const [format, rec] = args as [string, KeyRecord];
      const out = await subtle.exportKey(format as "raw", await fromRecord(rec));
      return out instanceof ArrayBuffer ? new Uint8Array(out) : out;
    }
    case "deriveBits": {
      const [alg, base, length] = args as [unknown, KeyRecord, number | null];
      return new Uint8Array(await subtle.deriveBits((await algorithm(alg)) as never, await fromRecord(base), length as number));
    }
    case "deriveKey": {
      const [alg, base, derived, extractable, usages] = args as [unknown, KeyRecord, unknown, boolean, webcrypto.KeyUsage[]];
      const k = await subtle.deriveKey((await algorithm(alg)) as never, await fromRecord(base), await algorithm(derived), true, usages);
      return toRecord(k, extractable);
    }
    case "wrapKey": {
      const [format, rec, wrapping, alg] = args as [string, KeyRecord, KeyRecord, unknown];
      return new Uint8Array(await subtle.wrapKey(format as "raw", await fromRecord(rec), await fromRecord(wrapping), await algorithm(alg)));
    }
    case "unwrapKey": {
      const [format, wrapped, unwrapping, alg, keyAlg, extractable, usages] = args as [
        string,
        Uint8Array,
        KeyRecord,
        unknown,
        unknown,
        boolean,
        webcrypto.KeyUsage[],
      ];
      const k = await subtle.unwrapKey(format as "raw", wrapped, await fromRecord(unwrapping), await algorithm(alg), await algorithm(keyAlg), true, usages);
      return toRecord(k, extractable);
    }
    default:
      throw new TypeError(`crypto.subtle has no operation ${JSON.stringify(op)}`);
  }
}

/** Runs crypto.subtle operation `op` for the isolate; resolves to [0, result] or an error as a value. */
export async function subtleOperation(op: string, args: unknown[]): Promise<[0, unknown] | [1, string, string] | [2, string]> {
  try {
    return [0, await run(op, args)];
  } catch (err) {
    const e = err as { name?: unknown; message?: unknown };
    const message = String(e?.message ?? err);
    if (err instanceof TypeError || e?.name === "TypeError") return [2, message];
    if (typeof DOMException !== "undefined" && err instanceof DOMException) return [1, err.name, message];
    return [1, "OperationError", message];
  }
}
