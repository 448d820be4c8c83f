// WHATWG Encoding: TextEncoder, TextDecoder (UTF-8 and UTF-16, fatal, ignoreBOM, streaming, labels).

const bytes = (...a) => new Uint8Array(a);

test(() => {
  const e = new TextEncoder();
  assert_equals(e.encoding, "utf-8");
  assert_array_equals(e.encode("a\u00e9\u20ac\ud83d\ude00"), [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]);
  assert_true(e.encode("x") instanceof Uint8Array);
}, "TextEncoder encodes UTF-8 into a Uint8Array");

test(() => {
  const e = new TextEncoder();
  assert_array_equals(e.encode(), []);
  assert_array_equals(e.encode(undefined), []);
  assert_array_equals(e.encode(null), [0x6e, 0x75, 0x6c, 0x6c]);
  assert_array_equals(e.encode(1), [0x31]);
}, "TextEncoder.encode converts its argument");

test(() => {
  const e = new TextEncoder();
  assert_array_equals(e.encode("\ud800"), [0xef, 0xbf, 0xbd]);
  assert_array_equals(e.encode("a\udc00b"), [0x61, 0xef, 0xbf, 0xbd, 0x62]);
  assert_array_equals(e.encode("\udc00\ud800"), [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]);
}, "TextEncoder replaces lone surrogates");

test(() => {
  const e = new TextEncoder();
  const out = new Uint8Array(8);
  const r = e.encodeInto("a\u00e9\u20ac", out);
  assert_equals(r.read, 3);
  assert_equals(r.written, 6);
  assert_array_equals(out, [0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0, 0]);
}, "encodeInto writes into the destination and reports read and written");

test(() => {
  const e = new TextEncoder();
  const out = new Uint8Array(5);
  const r = e.encodeInto("ab\ud83d\ude00c", out);
  assert_equals(r.read, 2, "a character that does not fit is not split");
  assert_equals(r.written, 2);
}, "encodeInto stops before a character that does not fit");

test(() => {
  const e = new TextEncoder();
  const out = new Uint8Array(10);
  const r = e.encodeInto("\ud83d\ude00", out);
  assert_equals(r.read, 2, "read counts UTF-16 code units");
  assert_equals(r.written, 4);
}, "encodeInto counts code units read");

test(() => {
  const e = new TextEncoder();
  const buf = new ArrayBuffer(10);
  const view = new Uint8Array(buf, 4, 3);
  e.encodeInto("xyz!", view);
  assert_array_equals(new Uint8Array(buf), [0, 0, 0, 0, 0x78, 0x79, 0x7a, 0, 0, 0]);
}, "encodeInto respects the view's offset and length");

test(() => {
  const e = new TextEncoder();
  assert_throws_js(TypeError, () => e.encodeInto("x", new Uint16Array(2)));
  assert_throws_js(TypeError, () => e.encodeInto("x", new ArrayBuffer(2)));
}, "encodeInto needs a Uint8Array");

test(() => {
  assert_class_string(new TextEncoder(), "TextEncoder");
  assert_class_string(new TextDecoder(), "TextDecoder");
}, "class strings");

test(() => {
  const d = new TextDecoder();
  assert_equals(d.encoding, "utf-8");
  assert_equals(d.fatal, false);
  assert_equals(d.ignoreBOM, false);
}, "TextDecoder defaults");

test(() => {
  const d = new TextDecoder();
  assert_equals(d.decode(bytes(0x61, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80)), "a\u00e9\u20ac\ud83d\ude00");
  assert_equals(d.decode(), "");
  assert_equals(d.decode(undefined), "");
}, "TextDecoder decodes UTF-8");

test(() => {
  const d = new TextDecoder();
  const buf = bytes(0x61, 0x62, 0x63, 0x64).buffer;
  assert_equals(d.decode(buf), "abcd");
  assert_equals(d.decode(new DataView(buf, 1, 2)), "bc");
  assert_equals(d.decode(new Uint16Array(buf, 2, 1)), "cd");
}, "TextDecoder accepts ArrayBuffer, DataView and any typed array");

test(() => {
  const d = new TextDecoder();
  assert_throws_js(TypeError, () => d.decode("abc"));
  assert_throws_js(TypeError, () => d.decode([1, 2]));
}, "TextDecoder.decode rejects non-buffers");

const invalid = [
  [[0xff], "\ufffd"],
  [[0xc0, 0x80], "\ufffd\ufffd"],
  [[0xe0, 0x80, 0x80], "\ufffd\ufffd\ufffd"],
  [[0xed, 0xa0, 0x80], "\ufffd\ufffd\ufffd"],
  [[0xf4, 0x90, 0x80, 0x80], "\ufffd\ufffd\ufffd\ufffd"],
  [[0xe2, 0x82], "\ufffd"],
  [[0xe2, 0x82, 0x61], "\ufffda"],
  [[0xf0, 0x9f, 0x98], "\ufffd"],
  [[0x80, 0x61], "\ufffda"],
  [[0xc3], "\ufffd"],
];
for (const [input, expected] of invalid) {
  test(
    () => {
      assert_equals(new TextDecoder().decode(new Uint8Array(input)), expected);
      assert_throws_js(TypeError, () => new TextDecoder("utf-8", { fatal: true }).decode(new Uint8Array(input)));
    },
    `invalid UTF-8 [${input.map((b) => b.toString(16)).join(" ")}] decodes to U+FFFD, or throws when fatal`,
  );
}

test(() => {
  const d = new TextDecoder("utf-8", { fatal: true });
  assert_true(d.fatal);
  assert_equals(d.decode(bytes(0x61)), "a");
}, "a fatal decoder decodes valid input");

test(() => {
  assert_equals(new TextDecoder().decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "a");
  assert_equals(new TextDecoder("utf-8", { ignoreBOM: true }).decode(bytes(0xef, 0xbb, 0xbf, 0x61)), "\ufeffa");
  assert_equals(new TextDecoder().decode(bytes(0xef, 0xbb, 0xbf, 0xef, 0xbb, 0xbf)), "\ufeff", "only one BOM is removed");
}, "UTF-8 BOM handling and ignoreBOM");

test(() => {
  const d = new TextDecoder();
  let out = "";
  for (const b of [0xf0, 0x9f, 0x98, 0x80, 0x61]) out += d.decode(bytes(b), { stream: true });
  out += d.decode();
  assert_equals(out, "\ud83d\ude00a");
}, "streaming decodes a character split over calls");

test(() => {
  const d = new TextDecoder();
  assert_equals(d.decode(bytes(0xe2, 0x82), { stream: true }), "");
  assert_equals(d.decode(), "\ufffd", "an unfinished sequence at the end is replaced");
  assert_equals(d.decode(bytes(0x61)), "a", "the decoder is reset after a non-stream call");
}, "ending a stream flushes an incomplete sequence");

test(() => {
  const d = new TextDecoder("utf-8", { fatal: true });
  assert_equals(d.decode(bytes(0xe2), { stream: true }), "");
  assert_throws_js(TypeError, () => d.decode());
}, "a fatal decoder throws on an incomplete sequence at the end");

test(() => {
  const d = new TextDecoder();
  assert_equals(d.decode(bytes(0xef, 0xbb), { stream: true }), "");
  assert_equals(d.decode(bytes(0xbf, 0x61), { stream: true }), "a");
  assert_equals(d.decode(bytes(0xef, 0xbb, 0xbf), { stream: true }), "\ufeff", "a BOM later in the stream is kept");
  assert_equals(d.decode(), "");
}, "a BOM split across stream chunks is removed once");

test(() => {
  const d = new TextDecoder("utf-16le");
  assert_equals(d.encoding, "utf-16le");
  assert_equals(d.decode(bytes(0x61, 0x00, 0xac, 0x20, 0x3d, 0xd8, 0x00, 0xde)), "a\u20ac\ud83d\ude00");
}, "UTF-16LE decoding");

test(() => {
  const d = new TextDecoder("utf-16be");
  assert_equals(d.encoding, "utf-16be");
  assert_equals(d.decode(bytes(0x00, 0x61, 0x20, 0xac)), "a\u20ac");
}, "UTF-16BE decoding");

test(() => {
  assert_equals(new TextDecoder("utf-16le").decode(bytes(0xff, 0xfe, 0x61, 0x00)), "a");
  assert_equals(new TextDecoder("utf-16be").decode(bytes(0xfe, 0xff, 0x00, 0x61)), "a");
  assert_equals(new TextDecoder("utf-16le", { ignoreBOM: true }).decode(bytes(0xff, 0xfe, 0x61, 0x00)), "\ufeffa");
}, "UTF-16 BOM handling");

test(() => {
  assert_equals(new TextDecoder("utf-16le").decode(bytes(0x00, 0xd8)), "\ufffd", "lone lead surrogate");
  assert_equals(new TextDecoder("utf-16le").decode(bytes(0x00, 0xdc, 0x61, 0x00)), "\ufffda", "lone trail surrogate");
  assert_equals(new TextDecoder("utf-16le").decode(bytes(0x61)), "\ufffd", "odd byte");
  assert_throws_js(TypeError, () => new TextDecoder("utf-16le", { fatal: true }).decode(bytes(0x00, 0xd8)));
}, "invalid UTF-16");

test(() => {
  const d = new TextDecoder("utf-16le");
  let out = "";
  for (const b of [0x3d, 0xd8, 0x00, 0xde, 0x61]) out += d.decode(bytes(b), { stream: true });
  out += d.decode(bytes(0x00));
  assert_equals(out, "\ud83d\ude00a");
}, "streaming UTF-16LE byte by byte");

const labels = [
  ["utf-8", "utf-8"],
  ["UTF-8", "utf-8"],
  ["utf8", "utf-8"],
  ["unicode-1-1-utf-8", "utf-8"],
  [" utf-8\n", "utf-8"],
  ["\t\f\rutf8 ", "utf-8"],
  ["utf-16", "utf-16le"],
  ["utf-16le", "utf-16le"],
  ["unicode", "utf-16le"],
  ["ucs-2", "utf-16le"],
  ["utf-16be", "utf-16be"],
  ["unicodefffe", "utf-16be"],
  ["latin1", "windows-1252"],
  ["iso-8859-1", "windows-1252"],
  ["ascii", "windows-1252"],
  ["us-ascii", "windows-1252"],
];
for (const [label, encoding] of labels) {
  test(() => assert_equals(new TextDecoder(label).encoding, encoding), `label ${JSON.stringify(label)} is ${encoding}`);
}

for (const label of ["utf-7", "utf-32", "replacement", "iso-2022-cn", "hz-gb-2312", "", "\u00a0utf-8", "utf-8\u0000", "x-user-defined2"]) {
  test(() => assert_throws_js(RangeError, () => new TextDecoder(label)), `label ${JSON.stringify(label)} throws RangeError`);
}

test(() => {
  const d = new TextDecoder("windows-1252");
  assert_equals(d.decode(bytes(0x41, 0x80, 0xe9, 0x9f)), "A\u20ac\u00e9\u0178");
}, "windows-1252 decoding");

test(() => {
  assert_equals(new TextDecoder("iso-8859-2").decode(bytes(0xa1, 0xb1)), "\u0104\u0105");
  assert_equals(new TextDecoder("koi8-r").decode(bytes(0xc1)), "\u0430");
}, "other single-byte encodings");

test(() => {
  assert_equals(new TextDecoder("x-user-defined").decode(bytes(0x41, 0x80, 0xff)), "A\uf780\uf7ff");
}, "x-user-defined");

test(() => {
  assert_equals(new TextDecoder("shift_jis").decode(bytes(0x82, 0xa0)), "\u3042");
  assert_equals(new TextDecoder("gbk").decode(bytes(0xc4, 0xe3)), "\u4f60");
}, "multi-byte legacy encodings");

test(() => {
  assert_throws_js(TypeError, () => TextDecoder());
  assert_throws_js(TypeError, () => TextEncoder());
}, "constructors need new");

test(() => {
  const d = new TextDecoder("utf-8", { fatal: 1, ignoreBOM: "yes" });
  assert_equals(d.fatal, true);
  assert_equals(d.ignoreBOM, true);
}, "options are converted to booleans");

test(() => {
  const big = new Uint8Array(100000).fill(0x61);
  assert_equals(new TextDecoder().decode(big).length, 100000);
}, "large inputs");

test(() => {
  const d = Object.getOwnPropertyDescriptor(TextDecoder.prototype, "encoding");
  assert_equals(typeof d.get, "function");
  assert_throws_js(TypeError, () => d.get.call({}));
}, "encoding is a prototype accessor that checks its receiver");

promise_test(async () => {
  const chunks = [new Uint8Array([0xe2, 0x82]), new Uint8Array([0xac, 0x61])];
  const readable = new ReadableStream({
    start(c) {
      for (const ch of chunks) c.enqueue(ch);
      c.close();
    },
  }).pipeThrough(new TextDecoderStream());
  let out = "";
  for await (const s of readable) out += s;
  assert_equals(out, "\u20aca");
}, "TextDecoderStream decodes across chunks");

promise_test(async () => {
  const readable = new ReadableStream({
    start(c) {
      c.enqueue("\ud83d");
      c.enqueue("\ude00x");
      c.close();
    },
  }).pipeThrough(new TextEncoderStream());
  const bytes = [];
  for await (const chunk of readable) bytes.push(...chunk);
  assert_array_equals(bytes, [0xf0, 0x9f, 0x98, 0x80, 0x78]);
}, "TextEncoderStream joins a surrogate pair split over chunks");

test(() => {
  const s = new TextDecoderStream("utf-16be", { fatal: true });
  assert_equals(s.encoding, "utf-16be");
  assert_true(s.fatal);
  assert_equals(new TextEncoderStream().encoding, "utf-8");
}, "TextDecoderStream and TextEncoderStream attributes");
