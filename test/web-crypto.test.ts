// crypto.subtle runs on the host's WebCrypto: what a function may ask of it is bounded (work
// factors and algorithms the host would run outside the function's CPU limit), and errors come
// back as the DOMExceptions WebCrypto specifies. Through a real stack and real HTTP.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { MAX_PBKDF2_ITERATIONS, MAX_RSA_MODULUS_BITS } from "../src/runtime/host-crypto.ts";
import { tempStack, type TempStack } from "./helpers/stack.ts";

const CRYPTO = `
const enc = (s) => new TextEncoder().encode(s);
async function outcome(p) {
  try { await p; return { ok: true }; } catch (e) { return { name: e?.name, message: e?.message, isDOMException: e instanceof DOMException }; }
}
export default {
  async fetch(request) {
    const p = new URL(request.url).pathname;
    if (p === "/pbkdf2") {
      const iterations = Number(new URL(request.url).searchParams.get("n"));
      const base = await crypto.subtle.importKey("raw", enc("pw"), "PBKDF2", false, ["deriveBits"]);
      return Response.json(await outcome(crypto.subtle.deriveBits({ name: "PBKDF2", salt: enc("s"), iterations, hash: "SHA-256" }, base, 256)));
    }
    if (p === "/rsa") {
      const modulusLength = Number(new URL(request.url).searchParams.get("bits"));
      return Response.json(await outcome(crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, false, ["sign"])));
    }
    if (p === "/algorithm") {
      const name = new URL(request.url).searchParams.get("name");
      return Response.json(await outcome(crypto.subtle.digest(name, enc("x"))));
    }
    if (p === "/hmac") {
      const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
      const sig = await crypto.subtle.sign("HMAC", key, enc("m"));
      return Response.json({
        verified: await crypto.subtle.verify("HMAC", key, sig, enc("m")),
        exported: await outcome(crypto.subtle.exportKey("raw", key)),
      });
    }
    if (p === "/time") return Response.json({ timeOrigin: performance.timeOrigin, now: performance.now(), date: Date.now() });
    return new Response("ok");
  },
};`;

describe("crypto.subtle on the host", () => {
  let s: TempStack;
  let started = 0;
  before(async () => {
    started = Date.now();
    s = await tempStack({
      "stratus.yaml": `name: t\nservices:\n  crypto:\n    entry: crypto.js\n    routes: ["GET /*"]\n`,
      "crypto.js": CRYPTO,
    });
  });
  after(() => s.close());

  test("PBKDF2 iterations over the limit are refused with NotSupportedError naming the limit", async () => {
    const over = (await (await s.fetch(`/pbkdf2?n=${MAX_PBKDF2_ITERATIONS + 1}`)).json()) as { name: string; message: string; isDOMException: boolean };
    assert.equal(over.name, "NotSupportedError");
    assert.equal(over.isDOMException, true);
    assert.match(over.message, new RegExp(String(MAX_PBKDF2_ITERATIONS)));
    assert.deepEqual(await (await s.fetch("/pbkdf2?n=1000")).json(), { ok: true });
  });

  test("RSA key generation over the modulus limit is refused", async () => {
    const over = (await (await s.fetch(`/rsa?bits=${MAX_RSA_MODULUS_BITS * 2}`)).json()) as { name: string; message: string };
    assert.equal(over.name, "NotSupportedError");
    assert.match(over.message, /modulusLength/);
    assert.deepEqual(await (await s.fetch("/rsa?bits=2048")).json(), { ok: true });
  });

  test("algorithms outside WebCrypto's set are refused even where Node has them", async () => {
    for (const name of ["SHA3-256", "cSHAKE128", "Argon2id", "MD5"]) {
      const r = (await (await s.fetch(`/algorithm?name=${name}`)).json()) as { name: string };
      assert.equal(r.name, "NotSupportedError", name);
    }
  });

  test("a key made non-extractable stays in the isolate: it signs, but cannot be exported", async () => {
    const r = (await (await s.fetch("/hmac")).json()) as { verified: boolean; exported: { name: string } };
    assert.equal(r.verified, true);
    assert.equal(r.exported.name, "InvalidAccessError");
  });

  test("performance.timeOrigin is when the instance started, not when the prelude snapshot was built", async () => {
    const r = (await (await s.fetch("/time")).json()) as { timeOrigin: number; now: number; date: number };
    assert.ok(r.timeOrigin >= started, `timeOrigin ${r.timeOrigin} is before the stack started (${started})`);
    assert.ok(Math.abs(r.timeOrigin + r.now - r.date) < 1000, "timeOrigin + now() is the current time");
  });
});
