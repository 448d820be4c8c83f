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

promise_test(async () => {
  const pair = await crypto.subtle.generateKey({ name: "RSA-OAEP", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, [
    "encrypt",
    "decrypt",
  ]);
  assert_equals(pair.publicKey.type, "public");
  assert_equals(pair.privateKey.type, "private");
  assert_true(pair.publicKey.extractable, "a public key is always extractable");
  assert_equals(pair.publicKey.algorithm.modulusLength, 2048);
  assert_array_equals(pair.publicKey.algorithm.publicExponent, [1, 0, 1]);
  assert_equals(pair.publicKey.algorithm.hash.name, "SHA-256");
  const ct = await crypto.subtle.encrypt({ name: "RSA-OAEP" }, pair.publicKey, enc("hello"));
  assert_equals(ct.byteLength, 256);
  const pt = await crypto.subtle.decrypt({ name: "RSA-OAEP" }, pair.privateKey, ct);
  assert_equals(new TextDecoder().decode(pt), "hello");
}, "RSA-OAEP generateKey, encrypt and decrypt");

promise_test(async () => {
  const pair = await crypto.subtle.generateKey({ name: "RSA-PSS", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" }, true, [
    "sign",
    "verify",
  ]);
  const sig = await crypto.subtle.sign({ name: "RSA-PSS", saltLength: 32 }, pair.privateKey, enc("m"));
  assert_true(await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, pair.publicKey, sig, enc("m")));
  const spki = await crypto.subtle.exportKey("spki", pair.publicKey);
  const back = await crypto.subtle.importKey("spki", spki, { name: "RSA-PSS", hash: "SHA-256" }, true, ["verify"]);
  assert_true(await crypto.subtle.verify({ name: "RSA-PSS", saltLength: 32 }, back, sig, enc("m")));
  const pkcs8 = await crypto.subtle.exportKey("pkcs8", pair.privateKey);
  assert_true(pkcs8.byteLength > 1000);
}, "RSA-PSS sign and verify, spki and pkcs8 export");

promise_test(async () => {
  const ikm = await crypto.subtle.importKey("raw", new Uint8Array(22).fill(0x0b), "HKDF", false, ["deriveBits"]);
  const salt = Uint8Array.from({ length: 13 }, (_, i) => i);
  const info = Uint8Array.from({ length: 10 }, (_, i) => 0xf0 + i);
  const bits = await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, ikm, 336);
  assert_equals(hex(bits), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
}, "HKDF deriveBits (RFC 5869 case 1)");

promise_test(async () => {
  const base = await crypto.subtle.importKey("raw", enc("password"), "PBKDF2", false, ["deriveKey"]);
  const key = await crypto.subtle.deriveKey(
    { name: "PBKDF2", salt: enc("salt"), iterations: 1000, hash: "SHA-256" },
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  assert_equals(key.algorithm.name, "AES-GCM");
  assert_equals(key.algorithm.length, 256);
  assert_array_equals(key.usages, ["encrypt"]);
}, "PBKDF2 deriveKey to AES-GCM");

promise_test(async (t) => {
  await promise_rejects_dom(t, "SyntaxError", crypto.subtle.importKey("raw", enc("password"), "PBKDF2", true, ["deriveBits"]));
}, "a PBKDF2 key cannot be extractable");

promise_test(async () => {
  const key = await crypto.subtle.importKey("raw", new Uint8Array(16), "AES-CBC", true, ["encrypt", "decrypt"]);
  const iv = new Uint8Array(16);
  const ct = await crypto.subtle.encrypt({ name: "AES-CBC", iv }, key, new Uint8Array(16));
  assert_equals(hex(ct).slice(0, 32), "66e94bd4ef8a2c3b884cfa59ca342b2e");
  const pt = await crypto.subtle.decrypt({ name: "AES-CBC", iv }, key, ct);
  assert_array_equals(new Uint8Array(pt), new Uint8Array(16));
}, "AES-CBC with a known vector");

promise_test(async () => {
  const key = await crypto.subtle.generateKey({ name: "AES-CTR", length: 128 }, false, ["encrypt", "decrypt"]);
  const counter = new Uint8Array(16);
  const ct = await crypto.subtle.encrypt({ name: "AES-CTR", counter, length: 64 }, key, enc("counter mode"));
  assert_equals(ct.byteLength, 12);
  const pt = await crypto.subtle.decrypt({ name: "AES-CTR", counter, length: 64 }, key, ct);
  assert_equals(new TextDecoder().decode(pt), "counter mode");
}, "AES-CTR round trip");

promise_test(async () => {
  const kek = await crypto.subtle.generateKey({ name: "AES-KW", length: 256 }, false, ["wrapKey", "unwrapKey"]);
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256", length: 256 }, true, ["sign"]);
  const wrapped = await crypto.subtle.wrapKey("raw", key, kek, "AES-KW");
  assert_equals(wrapped.byteLength, 40);
  const back = await crypto.subtle.unwrapKey("raw", wrapped, kek, "AES-KW", { name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  const a = await crypto.subtle.exportKey("raw", key);
  const b = await crypto.subtle.exportKey("raw", back);
  assert_equals(hex(a), hex(b));
}, "AES-KW wrapKey and unwrapKey");

promise_test(async (t) => {
  const kek = await crypto.subtle.generateKey({ name: "AES-KW", length: 128 }, false, ["wrapKey"]);
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  await promise_rejects_dom(t, "InvalidAccessError", crypto.subtle.wrapKey("raw", key, kek, "AES-KW"));
}, "a non-extractable key cannot be wrapped");

promise_test(async () => {
  const a = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const b = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
  const ab = await crypto.subtle.deriveBits({ name: "ECDH", public: b.publicKey }, a.privateKey, 256);
  const ba = await crypto.subtle.deriveBits({ name: "ECDH", public: a.publicKey }, b.privateKey, 256);
  assert_equals(hex(ab), hex(ba));
}, "ECDH deriveBits agrees on both sides");

promise_test(async () => {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const sig = await crypto.subtle.sign("Ed25519", pair.privateKey, enc("m"));
  assert_equals(sig.byteLength, 64);
  assert_true(await crypto.subtle.verify("Ed25519", pair.publicKey, sig, enc("m")));
  assert_false(await crypto.subtle.verify("Ed25519", pair.publicKey, sig, enc("n")));
  const raw = await crypto.subtle.exportKey("raw", pair.publicKey);
  assert_equals(raw.byteLength, 32);
}, "Ed25519 sign, verify and raw export");

promise_test(async () => {
  const a = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const b = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
  const ab = await crypto.subtle.deriveBits({ name: "X25519", public: b.publicKey }, a.privateKey, 256);
  const ba = await crypto.subtle.deriveBits({ name: "X25519", public: a.publicKey }, b.privateKey, 256);
  assert_equals(hex(ab), hex(ba));
}, "X25519 deriveBits");

promise_test(async () => {
  const pair = await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]);
  const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
  assert_equals(jwk.kty, "EC");
  assert_equals(jwk.crv, "P-384");
  assert_equals(typeof jwk.d, "string");
  const pub = await crypto.subtle.importKey("jwk", { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }, { name: "ECDSA", namedCurve: "P-384" }, true, [
    "verify",
  ]);
  const sig = await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-384" }, pair.privateKey, enc("m"));
  assert_true(await crypto.subtle.verify({ name: "ECDSA", hash: "SHA-384" }, pub, sig, enc("m")));
}, "ECDSA P-384 with jwk export and import");

promise_test(async () => {
  const key = await crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, ["sign"]);
  assert_equals(key.algorithm, key.algorithm, "algorithm is the same object each time");
  assert_equals(key.usages, key.usages, "usages is the same object each time");
  assert_class_string(key, "CryptoKey");
  assert_true(key instanceof CryptoKey);
}, "CryptoKey attributes");

promise_test(async (t) => {
  await promise_rejects_dom(t, "SyntaxError", crypto.subtle.generateKey({ name: "HMAC", hash: "SHA-256" }, true, []));
  await promise_rejects_dom(t, "SyntaxError", crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["sign"]));
}, "generateKey rejects empty or wrong usages with SyntaxError");

promise_test(async (t) => {
  await promise_rejects_dom(t, "DataError", crypto.subtle.importKey("raw", new Uint8Array(7), "AES-GCM", true, ["encrypt"]));
  await promise_rejects_dom(t, "DataError", crypto.subtle.importKey("jwk", { kty: "oct" }, { name: "HMAC", hash: "SHA-256" }, true, ["sign"]));
}, "importKey rejects bad key data with DataError");

promise_test(async (t) => {
  await promise_rejects_dom(t, "NotSupportedError", crypto.subtle.generateKey({ name: "NOPE" }, true, ["sign"]));
  await promise_rejects_dom(t, "NotSupportedError", crypto.subtle.importKey("raw", new Uint8Array(16), "NOPE", true, ["sign"]));
}, "unknown algorithms are NotSupportedError");

promise_test(async (t) => {
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 128 }, true, ["encrypt"]);
  await promise_rejects_js(t, TypeError, crypto.subtle.encrypt({ name: "AES-GCM", iv: new Uint8Array(12) }, {}, enc("x")));
  await promise_rejects_dom(t, "InvalidAccessError", crypto.subtle.encrypt({ name: "AES-CBC", iv: new Uint8Array(16) }, key, enc("x")));
}, "operations check the key and its algorithm");

test(() => {
  const p = crypto.subtle.digest("SHA-256", "not a buffer");
  assert_true(p instanceof Promise, "SubtleCrypto methods return a promise even for bad arguments");
  p.catch(() => {});
}, "SubtleCrypto methods never throw synchronously");
