// The host side of crypto.subtle: hostile arguments become errors, never exceptions, and heavy
// operations queue instead of filling libuv's thread pool.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_HEAVY_IN_FLIGHT, heavy, subtleOperation } from "./host-crypto.ts";

test("at most MAX_HEAVY_IN_FLIGHT heavy operations run at once; the rest start in order as slots free up", async () => {
  const started: number[] = [];
  const release: (() => void)[] = [];
  const all = Array.from({ length: 5 }, (_, i) =>
    heavy(async () => {
      started.push(i);
      await new Promise<void>((r) => release.push(r));
      return i;
    }),
  );
  const settle = () => new Promise((r) => setImmediate(r));
  await settle();
  assert.equal(MAX_HEAVY_IN_FLIGHT, 2, "the steps below are written for two slots");
  assert.deepEqual(started, [0, 1]);
  release.shift()!();
  await settle();
  assert.deepEqual(started, [0, 1, 2]);
  // A newcomer does not overtake those waiting.
  const late = heavy(async () => {
    started.push(99);
    return 99;
  });
  release.shift()!();
  await settle();
  assert.deepEqual(started, [0, 1, 2, 3]);
  while (release.length > 0 || started.length < 6) {
    release.shift()?.();
    await settle();
  }
  assert.deepEqual(await Promise.all([...all, late]), [0, 1, 2, 3, 4, 99]);
  assert.deepEqual(started, [0, 1, 2, 3, 4, 99]);
});

test("malformed operations from the isolate come back as error values, never as exceptions", async () => {
  const cases: [string, unknown[]][] = [
    ["nope", []],
    ["sign", []],
    ["sign", [null, null, null]],
    ["sign", ["HMAC", { algorithm: null }, new Uint8Array(1)]],
    ["importKey", ["raw", "not bytes", { name: "HMAC", hash: "SHA-256" }, true, ["sign"]]],
    ["importKey", ["jwk", { kty: "oct", k: 5 }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]]],
    ["generateKey", [{ name: "AES-GCM", length: 7 }, true, ["encrypt"]]],
    ["generateKey", [{ name: "RSA-PSS", modulusLength: 1e9, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, ["sign"]]],
    ["deriveBits", [{ name: "PBKDF2", salt: new Uint8Array(1), iterations: 1e12, hash: "SHA-256" }, { algorithm: { name: "PBKDF2" } }, 256]],
    ["digest", [{ name: "SHA-256", hash: { name: "Argon2id" } }, new Uint8Array(1)]],
    ["exportKey", ["raw", { type: "secret", algorithm: { name: "HMAC", hash: "SHA-256" }, usages: ["sign"], format: "raw", data: "x" }]],
  ];
  for (const [op, args] of cases) {
    const r = await subtleOperation(op, args);
    assert.ok(r[0] === 1 || r[0] === 2, `${op} ${JSON.stringify(args)} gave ${JSON.stringify(r)}`);
    assert.equal(typeof r[r.length - 1], "string");
  }
});
