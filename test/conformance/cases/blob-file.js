// Blob and File conformance cases, written from the W3C File API. Plain script in the shape of
// WPT's testharness.js.

const bytesOf = async (b) => Array.from(new Uint8Array(await b.arrayBuffer()));

test(() => {
  const b = new Blob();
  assert_equals(b.size, 0);
  assert_equals(b.type, "");
  assert_class_string(b, "Blob");
}, "Blob without arguments");

test(() => {
  assert_equals(new Blob(undefined).size, 0);
  assert_equals(new Blob([], undefined).size, 0);
  assert_equals(new Blob([], null).type, "");
}, "Blob with undefined parts and options");

test(() => {
  assert_throws_js(TypeError, () => new Blob("abc"));
  assert_throws_js(TypeError, () => new Blob(null));
  assert_throws_js(TypeError, () => new Blob(1));
  assert_throws_js(TypeError, () => new Blob({}));
}, "Blob parts must be an iterable object");

test(() => {
  assert_throws_js(TypeError, () => Blob());
}, "Blob cannot be called without new");

promise_test(async () => {
  const b = new Blob(["ab", "c"]);
  assert_equals(b.size, 3);
  assert_equals(await b.text(), "abc");
}, "String parts are concatenated");

promise_test(async () => {
  const b = new Blob(["\u00e9\u20ac"]);
  assert_equals(b.size, 5);
  assert_array_equals(await bytesOf(b), [0xc3, 0xa9, 0xe2, 0x82, 0xac]);
}, "Strings are encoded as UTF-8");

promise_test(async () => {
  const b = new Blob(["\ud800"]);
  assert_array_equals(await bytesOf(b), [0xef, 0xbf, 0xbd]);
}, "Lone surrogates become U+FFFD");

promise_test(async () => {
  const b = new Blob([1, null, undefined, true, { toString: () => "o" }]);
  assert_equals(await b.text(), "1nullundefinedtrueo");
}, "Other parts are converted to strings");

promise_test(async () => {
  const buf = new Uint8Array([1, 2, 3, 4]);
  const b = new Blob([buf.buffer, new Uint8Array(buf.buffer, 1, 2), new DataView(buf.buffer, 3, 1), new Uint16Array([0x0201])]);
  assert_array_equals(await bytesOf(b), [1, 2, 3, 4, 2, 3, 4, 1, 2]);
}, "ArrayBuffer, typed array views and DataView parts");

promise_test(async () => {
  const inner = new Blob(["in"]);
  const b = new Blob(["<", inner, ">"]);
  assert_equals(await b.text(), "<in>");
}, "Blob parts are included");

promise_test(async () => {
  const src = new Uint8Array([1, 2]);
  const b = new Blob([src]);
  src[0] = 9;
  assert_array_equals(await bytesOf(b), [1, 2]);
}, "Parts are copied at construction");

promise_test(async () => {
  function* gen() {
    yield "a";
    yield "b";
  }
  assert_equals(await new Blob(gen()).text(), "ab");
}, "Parts can be any iterable");

test(() => {
  assert_equals(new Blob([], { type: "Text/HTML" }).type, "text/html");
  assert_equals(new Blob([], { type: "text/plain;charset=UTF-8" }).type, "text/plain;charset=utf-8");
}, "type is lowercased");

test(() => {
  assert_equals(new Blob([], { type: "a\u00e9" }).type, "");
  assert_equals(new Blob([], { type: "a\nb" }).type, "");
  assert_equals(new Blob([], { type: "a\u0019" }).type, "");
}, "type with characters outside U+0020-U+007E becomes empty");

test(() => {
  assert_throws_js(TypeError, () => new Blob([], { endings: "invalid" }));
  assert_equals(new Blob(["a"], { endings: "transparent" }).size, 1);
}, "endings must be transparent or native");

promise_test(async () => {
  assert_equals(await new Blob(["a\r\nb\rc\n"], { endings: "transparent" }).text(), "a\r\nb\rc\n");
}, "endings transparent keeps line endings");

promise_test(async () => {
  assert_equals(await new Blob(["a\r\nb\rc\n"], { endings: "native" }).text(), "a\nb\nc\n");
}, "endings native converts line endings to LF");

test(() => {
  assert_throws_js(TypeError, () => new Blob([], 1));
}, "Non-object options throw");

promise_test(async () => {
  const b = new Blob(["abcdef"]);
  assert_equals(await b.slice().text(), "abcdef");
  assert_equals(await b.slice(2).text(), "cdef");
  assert_equals(await b.slice(1, 3).text(), "bc");
  assert_equals(await b.slice(-2).text(), "ef");
  assert_equals(await b.slice(-4, -1).text(), "cde");
  assert_equals(await b.slice(3, 1).text(), "");
  assert_equals(await b.slice(10).text(), "");
  assert_equals(await b.slice(-100, 2).text(), "ab");
}, "slice() with positive, negative and out-of-range indices");

test(() => {
  const b = new Blob(["abc"], { type: "text/plain" });
  assert_equals(b.slice(0, 1).type, "");
  assert_equals(b.slice(0, 1, "Image/PNG").type, "image/png");
  assert_equals(b.slice(0, 1, "\u00e9").type, "");
  assert_equals(b.slice(0, 2).size, 2);
}, "slice() content type");

promise_test(async () => {
  const b = new Blob(["abcdef"]);
  assert_equals(await b.slice("1", "2").text(), "b");
  assert_equals(await b.slice(NaN, 2).text(), "ab");
}, "slice() converts indices as long long");

promise_test(async () => {
  const b = new Blob(["abcdef"]).slice(1, 5).slice(1, 3);
  assert_equals(await b.text(), "cd");
}, "slice() of a slice");

promise_test(async () => {
  const b = new Blob(["x"]);
  const a1 = await b.arrayBuffer();
  const a2 = await b.arrayBuffer();
  assert_true(a1 instanceof ArrayBuffer);
  assert_not_equals(a1, a2);
  new Uint8Array(a1)[0] = 0;
  assert_equals(await b.text(), "x");
}, "arrayBuffer() returns a fresh copy");

promise_test(async () => {
  const b = new Blob(["hi"]);
  const u = await b.bytes();
  assert_true(u instanceof Uint8Array);
  assert_array_equals(u, [104, 105]);
}, "bytes() returns a Uint8Array");

promise_test(async () => {
  const b = new Blob([new Uint8Array([0xef, 0xbb, 0xbf, 0x61, 0xff])]);
  assert_equals(await b.text(), "a\ufffd");
}, "text() decodes UTF-8 without BOM and with replacement");

promise_test(async () => {
  const b = new Blob(["stream me"]);
  const s = b.stream();
  assert_true(s instanceof ReadableStream);
  const reader = s.getReader();
  const chunks = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    assert_true(value instanceof Uint8Array);
    chunks.push(...value);
  }
  assert_equals(new TextDecoder().decode(new Uint8Array(chunks)), "stream me");
}, "stream() yields the bytes as Uint8Array chunks");

test(() => {
  const b = new Blob(["x"]);
  assert_not_equals(b.stream(), b.stream());
}, "stream() returns a new stream each time");

promise_test(async () => {
  const r = await new Blob([]).stream().getReader().read();
  assert_true(r.done);
}, "stream() of an empty Blob ends at once");

test(() => {
  for (const k of ["size", "type"]) {
    assert_true(k in Blob.prototype, k);
    assert_false(Object.prototype.hasOwnProperty.call(new Blob(), k), k);
  }
  for (const m of ["slice", "stream", "text", "arrayBuffer", "bytes"]) assert_equals(typeof Blob.prototype[m], "function", m);
}, "Blob attributes are prototype accessors");

test(() => {
  const f = new File(["abc"], "a.txt");
  assert_true(f instanceof Blob);
  assert_equals(f.name, "a.txt");
  assert_equals(f.size, 3);
  assert_equals(f.type, "");
  assert_class_string(f, "File");
}, "File basics");

test(() => {
  assert_throws_js(TypeError, () => new File(["x"]));
  assert_throws_js(TypeError, () => new File());
}, "File needs bits and a name");

test(() => {
  assert_throws_js(TypeError, () => File(["x"], "n"));
}, "File cannot be called without new");

test(() => {
  const before = Date.now();
  const f = new File([], "n");
  const after = Date.now();
  assert_true(f.lastModified >= before && f.lastModified <= after);
}, "lastModified defaults to now");

test(() => {
  assert_equals(new File([], "n", { lastModified: 42 }).lastModified, 42);
  assert_equals(new File([], "n", { lastModified: -1 }).lastModified, -1);
  assert_equals(new File([], "n", { lastModified: "7" }).lastModified, 7);
}, "lastModified from options is a long long");

test(() => {
  assert_equals(new File([], "a/b\\c").name, "a/b\\c");
  assert_equals(new File([], "").name, "");
  assert_equals(new File([], 12).name, "12");
  assert_equals(new File([], "\ud800").name, "\ufffd");
}, "File name is a USVString kept as given");

test(() => {
  assert_equals(new File([], "n", { type: "TEXT/X" }).type, "text/x");
  assert_equals(new File([], "n", { type: "\u00e9" }).type, "");
}, "File type follows Blob's rules");

promise_test(async () => {
  const f = new File(["a", new Blob(["b"]), new Uint8Array([99])], "n");
  assert_equals(await f.text(), "abc");
}, "File takes Blob parts");

promise_test(async () => {
  const f = new File(["hello"], "n", { type: "text/plain" });
  const s = f.slice(1, 3);
  assert_false(s instanceof File);
  assert_true(s instanceof Blob);
  assert_equals(await s.text(), "el");
}, "slice() of a File is a Blob");

test(() => {
  assert_true("name" in File.prototype);
  assert_true("lastModified" in File.prototype);
  assert_false(Object.prototype.hasOwnProperty.call(new File([], "n"), "name"));
}, "File attributes are prototype accessors");

test(() => {
  assert_equals(Object.getPrototypeOf(File.prototype), Blob.prototype);
  assert_equals(Object.getPrototypeOf(File), Blob);
}, "File inherits from Blob");

promise_test(async () => {
  const b = new Blob(["x".repeat(100000)]);
  assert_equals(b.size, 100000);
  assert_equals((await b.slice(99990).text()).length, 10);
}, "Large blobs");

test(() => {
  const b = new Blob([new ArrayBuffer(8)]);
  assert_equals(b.size, 8);
}, "size counts bytes");

promise_test(async () => {
  const b = new Blob(["a"], { type: "x/y" });
  const r = new Response(b);
  assert_equals(await r.text(), "a");
}, "A Blob can be a Response body");

promise_test(async () => {
  const reader = new Blob(["abcdef"]).stream().getReader({ mode: "byob" });
  const r = await reader.read(new Uint8Array(3));
  assert_equals(new TextDecoder().decode(r.value), "abc");
}, "stream() can be read with a BYOB reader");

promise_test(async () => {
  const b = new Blob(["abc"]);
  await new Response(b.stream()).text();
  assert_equals(await b.text(), "abc");
}, "Reading stream() leaves the Blob intact");

test(() => {
  assert_equals(Blob.length, 0);
  assert_equals(File.length, 2);
}, "Constructor lengths count required arguments");

test(() => {
  const order = [];
  const parts = [{ toString: () => (order.push("part"), "x") }];
  const opts = {
    get type() {
      order.push("type");
      return "";
    },
    get endings() {
      order.push("endings");
      return undefined;
    },
  };
  new Blob(parts, opts);
  assert_array_equals(order, ["part", "endings", "type"]);
}, "Parts are converted before options, and options are read in lexicographic order");

test(() => {
  for (const bad of [new Date(), /x/, { 0: "a", length: 1 }, true, 1.5]) assert_throws_js(TypeError, () => new Blob(bad), String(bad));
}, "Dates, RegExps and array-likes without @@iterator are not parts");

promise_test(async () => {
  assert_equals(await new Blob(new Uint8Array([1, 2, 3])).text(), "123");
  assert_equals(await new Blob(new String("xyz")).text(), "xyz");
}, "Iterables of non-parts are converted element by element");

promise_test(async () => {
  const err = new Error("thrown");
  try {
    new Blob([
      {
        toString() {
          throw err;
        },
      },
    ]);
    assert_unreached("should throw");
  } catch (e) {
    assert_equals(e, err);
  }
}, "An exception from a part's toString propagates");
