// Sandbox code: atob() and btoa() as HTML defines them (forgiving-base64), failing with a
// DOMException "InvalidCharacterError".
import { DOMException } from "./dom-exception.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 64; i++) VALUE[ALPHABET.charCodeAt(i)] = i;

function needsArgument(name: string, n: number): void {
  if (n < 1) throw new TypeError(`${name}: 1 argument required, but only 0 present`);
}

/** Encodes a string of Latin-1 characters as base64. */
export function btoa(data: unknown): string {
  needsArgument("btoa", arguments.length);
  const s = String(data);
  let out = "";
  for (let i = 0; i < s.length; i += 3) {
    const a = s.charCodeAt(i);
    const b = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
    const c = i + 2 < s.length ? s.charCodeAt(i + 2) : 0;
    if (a > 255 || b > 255 || c > 255) {
      throw new DOMException("btoa: the string contains characters outside the Latin-1 range; encode it as UTF-8 bytes first", "InvalidCharacterError");
    }
    const n = (a << 16) | (b << 8) | c;
    out += ALPHABET[(n >> 18) & 63]! + ALPHABET[(n >> 12) & 63]!;
    out += i + 1 < s.length ? ALPHABET[(n >> 6) & 63]! : "=";
    out += i + 2 < s.length ? ALPHABET[n & 63]! : "=";
  }
  return out;
}

/** Decodes base64 into a string of Latin-1 characters (one per byte). */
export function atob(data: unknown): string {
  needsArgument("atob", arguments.length);
  const invalid = (): DOMException => new DOMException("atob: the string is not valid base64", "InvalidCharacterError");
  // Remove ASCII whitespace, then at most two trailing "=" when the length is a multiple of 4.
  let s = String(data).replace(/[\t\n\f\r ]+/g, "");
  if (s.length % 4 === 0) s = s.replace(/={1,2}$/, "");
  if (s.length % 4 === 1) throw invalid();
  let out = "";
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const code = s.charCodeAt(i);
    const v = code < 128 ? VALUE[code]! : -1;
    if (v < 0) throw invalid();
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += String.fromCharCode((acc >> bits) & 255);
    }
  }
  return out;
}
