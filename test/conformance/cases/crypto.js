// WebCrypto: crypto.getRandomValues, crypto.randomUUID and crypto.subtle.digest.

const enc = (s) => new TextEncoder().encode(s);
const hex = (buf) => Array.from(new Uint8Array(buf), (b) => b.toString(16).padStart(2, "0")).join("");

test(() => {
  assert_true(typeof crypto === "object");
  assert_class_string(crypto, "Crypto");
  assert_class_string(crypto.subtle, "SubtleCrypto");
}, "crypto and crypto.subtle");

for (const C of [Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array, BigInt64Array, BigUint64Array]) {
  test(() => {
    const a = new C(8);
    assert_equals(crypto.getRandomValues(a), a, "returns its argument");
  }, `getRandomValues fills a ${C.name}`);
}

for (const C of [Float32Array, Float64Array, DataView]) {
  test(() => {
    assert_throws_dom("TypeMismatchError", () => crypto.getRandomValues(C === DataView ? new DataView(new ArrayBuffer(4)) : new C(4)));
  }, `getRandomValues rejects a ${C.name} with TypeMismatchError`);
}

test(() => {
  assert_throws_js(TypeError, () => crypto.getRandomValues([1, 2]));
  assert_throws_js(TypeError, () => crypto.getRandomValues(new ArrayBuffer(4)));
  assert_throws_js(TypeError, () => crypto.getRandomValues());
}, "getRandomValues needs an ArrayBufferView");

test(() => {
  crypto.getRandomValues(new Uint8Array(65536));
  assert_throws_dom("QuotaExceededError", () => crypto.getRandomValues(new Uint8Array(65537)));
  assert_throws_dom("QuotaExceededError", () => crypto.getRandomValues(new Uint32Array(16385)));
}, "getRandomValues allows at most 65536 bytes");

test(() => {
  const a = crypto.getRandomValues(new Uint8Array(64));
  const b = crypto.getRandomValues(new Uint8Array(64));
  assert_not_equals(hex(a), hex(b));
  assert_true(a.some((x) => x !== 0));
}, "getRandomValues gives different bytes each time");

test(() => {
  const buf = new ArrayBuffer(16);
  const view = new Uint8Array(buf, 4, 8);
  crypto.getRandomValues(view);
  const all = new Uint8Array(buf);
  assert_array_equals(all.subarray(0, 4), [0, 0, 0, 0]);
  assert_array_equals(all.subarray(12), [0, 0, 0, 0]);
}, "getRandomValues writes only inside the view");

test(() => {
  assert_equals(crypto.getRandomValues(new Uint8Array(0)).length, 0);
}, "getRandomValues of an empty array");

test(() => {
  assert_throws_js(TypeError, () => crypto.getRandomValues.call({}, new Uint8Array(1)));
}, "getRandomValues checks its receiver");

test(() => {
  const re = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
  for (let i = 0; i < 100; i++) assert_regexp_match(crypto.randomUUID(), re);
}, "randomUUID gives version 4 variant 1 UUIDs");

test(() => {
  const seen = new Set();
  for (let i = 0; i < 1000; i++) seen.add(crypto.randomUUID());
  assert_equals(seen.size, 1000);
}, "randomUUID does not repeat");

const vectors = [
  ["SHA-1", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"],
  ["SHA-256", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
  ["SHA-384", "abc", "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c825a7"],
  ["SHA-512", "abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"],
  ["SHA-256", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
];
for (const [alg, input, expected] of vectors) {
  promise_test(
    async () => {
      const out = await crypto.subtle.digest(alg, enc(input));
      assert_true(out instanceof ArrayBuffer);
      assert_equals(hex(out), expected);
    },
    `digest ${alg} of ${JSON.stringify(input)}`,
  );
}

promise_test(async () => {
  assert_equals(hex(await crypto.subtle.digest("sha-256", enc("abc"))).slice(0, 8), "ba7816bf");
  assert_equals(hex(await crypto.subtle.digest({ name: "Sha-256" }, enc("abc"))).slice(0, 8), "ba7816bf");
}, "digest algorithm names are case-insensitive and may be objects");

promise_test(async () => {
  const data = enc("xabcx");
  assert_equals(hex(await crypto.subtle.digest("SHA-256", data.buffer.slice(1, 4))).slice(0, 8), "ba7816bf");
  assert_equals(hex(await crypto.subtle.digest("SHA-256", new DataView(data.buffer, 1, 3))).slice(0, 8), "ba7816bf");
  assert_equals(hex(await crypto.subtle.digest("SHA-256", data.subarray(1, 4))).slice(0, 8), "ba7816bf");
}, "digest accepts ArrayBuffer and views");

promise_test(async () => {
  const data = new Uint8Array(1 << 20).fill(0x61);
  const out = await crypto.subtle.digest("SHA-256", data);
  assert_equals(out.byteLength, 32);
}, "digest of a large input");

promise_test(async (t) => {
  await promise_rejects_dom(t, "NotSupportedError", crypto.subtle.digest("MD5", enc("x")));
  await promise_rejects_dom(t, "NotSupportedError", crypto.subtle.digest("SHA-257", enc("x")));
}, "digest rejects unknown algorithms with NotSupportedError");

promise_test(async (t) => {
  await promise_rejects_js(t, TypeError, crypto.subtle.digest("SHA-256", "abc"));
  await promise_rejects_js(t, TypeError, crypto.subtle.digest("SHA-256"));
}, "digest rejects data that is not a BufferSource with TypeError");

promise_test(async () => {
  const data = enc("abc");
  const p = crypto.subtle.digest("SHA-256", data);
  data[0] = 0;
  assert_equals(hex(await p).slice(0, 8), "ba7816bf", "the data is copied when digest is called");
}, "digest copies its input");

promise_test(async () => {
  const key = await crypto.subtle.importKey("raw", enc("key"), { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
  assert_equals(key.type, "secret");
  assert_equals(key.algorithm.name, "HMAC");
  assert_false(key.extractable);
  assert_array_equals(key.usages, ["sign", "verify"]);
  const sig = await crypto.subtle.sign("HMAC", key, enc("The quick brown fox jumps over the lazy dog"));
  assert_equals(hex(sig), "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8");
  assert_true(await crypto.subtle.verify("HMAC", key, sig, enc("The quick brown fox jumps over the lazy dog")));
  assert_false(await crypto.subtle.verify("HMAC", key, sig, enc("the quick brown fox jumps over the lazy dog")));
}, "HMAC importKey, sign and verify");

promise_test(async (t) => {
  const key = await crypto.subtle.importKey("raw", enc("key"), { name: "HMAC", hash: "SHA-256" }, false, ["verify"]);
  await promise_rejects_dom(t, "InvalidAccessError", crypto.subtle.sign("HMAC", key, enc("x")));
}, "a key cannot be used for a usage it lacks");

promise_test(async () => {
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-512" }, true, ["sign"]);
  assert_equals(key.algorithm.length, 1024);
  const raw = await crypto.subtle.exportKey("raw", key);
  assert_equals(raw.byteLength, 128);
}, "HMAC generateKey and exportKey");

promise_test(async () => {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, true, ["encrypt", "decrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const ct = await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, enc("secret"));
  assert_equals(ct.byteLength, 6 + 16);
  const pt = await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct);
  assert_equals(new TextDecoder().decode(pt), "secret");
}, "AES-GCM encrypt and decrypt");

promise_test(async (t) => {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, false, ["encrypt", "decrypt"]);
  const iv = new Uint8Array(12);
  const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, enc("secret")));
  ct[0] ^= 1;
  await promise_rejects_dom(t, "OperationError", crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, ct));
}, "AES-GCM rejects tampered ciphertext with OperationError");

promise_test(async () => {
  const base = await crypto.subtle.importKey("raw", enc("password"), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", salt: enc("salt"), iterations: 1, hash: "SHA-1" }, base, 160);
  assert_equals(hex(bits), "0c60c80f961f0e71f3a9b524af6012062fe037a6");
}, "PBKDF2 deriveBits");

promise_test(async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, false, ["sign", "verify"]);
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, pair.privateKey, enc("m"));
  assert_true(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-256" }, pair.publicKey, sig, enc("m")));
}, "ECDSA P-256 sign and verify");

promise_test(async () => {
  const jwk = { kty: "oct", k: "a2V5", alg: "HS256", ext: true };
  const key = await crypto.subtle.importKey("jwk", jwk, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const out = await crypto.subtle.exportKey("jwk", key);
  assert_equals(out.k, "a2V5");
  assert_equals(out.kty, "oct");
}, "HMAC jwk import and export");

test(() => {
  assert_throws_js(TypeError, () => new Crypto());
  assert_throws_js(TypeError, () => new SubtleCrypto());
  assert_throws_js(TypeError, () => new CryptoKey());
}, "Crypto, SubtleCrypto and CryptoKey cannot be constructed");
