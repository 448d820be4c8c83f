// Headers conformance cases, written from the WHATWG Fetch standard (section "Headers class").
// Plain script in the shape of WPT's testharness.js; the runner supplies test() and the asserts.

test(() => {
  const h = new Headers();
  assert_array_equals([...h], [], "empty");
  assert_class_string(h, "Headers");
}, "Headers constructor without arguments");

test(() => {
  const h = new Headers(undefined);
  assert_array_equals([...h.keys()], []);
}, "Headers constructor with undefined");

test(() => {
  assert_throws_js(TypeError, () => new Headers(null));
}, "Headers constructor with null throws");

test(() => {
  const h = new Headers({ "Content-Type": "text/plain", "X-A": "1" });
  assert_equals(h.get("content-type"), "text/plain");
  assert_equals(h.get("x-a"), "1");
}, "Headers constructor with a record");

test(() => {
  const h = new Headers([
    ["a", "1"],
    ["b", "2"],
    ["a", "3"],
  ]);
  assert_equals(h.get("a"), "1, 3");
  assert_equals(h.get("b"), "2");
}, "Headers constructor with a sequence of pairs combines duplicates");

test(() => {
  assert_throws_js(TypeError, () => new Headers([["a"]]));
  assert_throws_js(TypeError, () => new Headers([["a", "1", "2"]]));
}, "Headers constructor rejects pairs that are not of length two");

test(() => {
  assert_throws_js(TypeError, () => new Headers(["ab"]));
}, "Headers constructor rejects a sequence of strings");

test(() => {
  assert_throws_js(TypeError, () => new Headers(1));
  assert_throws_js(TypeError, () => new Headers("a"));
}, "Headers constructor rejects primitives");

test(() => {
  const a = new Headers([
    ["x", "1"],
    ["set-cookie", "a=1"],
    ["set-cookie", "b=2"],
  ]);
  const b = new Headers(a);
  assert_array_equals(b.getSetCookie(), ["a=1", "b=2"]);
  assert_equals(b.get("x"), "1");
  assert_equals([...b].length, 3);
}, "Copying Headers keeps each Set-Cookie exactly once");

test(() => {
  const a = new Headers({ x: "1" });
  const b = new Headers(a);
  b.set("x", "2");
  assert_equals(a.get("x"), "1");
}, "A copied Headers is independent of its source");

test(() => {
  const init = Object.create({ inherited: "no" });
  init.own = "yes";
  const h = new Headers(init);
  assert_equals(h.get("own"), "yes");
  assert_false(h.has("inherited"));
}, "A record uses own properties only");

test(() => {
  const init = {
    *[Symbol.iterator]() {
      yield ["a", "1"];
      yield ["b", "2"];
    },
  };
  const h = new Headers(init);
  assert_equals(h.get("b"), "2");
}, "Headers constructor accepts any iterable of pairs");

test(() => {
  const h = new Headers(new Map([["a", "1"]]));
  assert_equals(h.get("a"), "1");
}, "Headers constructor accepts a Map");

test(() => {
  const h = new Headers();
  h.append("A", "1");
  h.append("a", "2");
  assert_equals(h.get("A"), "1, 2");
}, "append() combines values case-insensitively");

test(() => {
  const h = new Headers({ a: "1" });
  h.set("A", "2");
  assert_equals(h.get("a"), "2");
}, "set() replaces the value");

test(() => {
  const h = new Headers({ a: "1" });
  h.delete("A");
  assert_false(h.has("a"));
  assert_equals(h.get("a"), null);
}, "delete() removes the header");

test(() => {
  const h = new Headers();
  assert_equals(h.get("missing"), null);
  assert_false(h.has("missing"));
}, "get() of a missing header is null");

test(() => {
  const h = new Headers();
  h.append("x", "");
  assert_true(h.has("x"));
  assert_equals(h.get("x"), "");
}, "An empty value is kept");

test(() => {
  const h = new Headers();
  h.append("x", " \t a b \t\r\n");
  assert_equals(h.get("x"), "a b");
}, "Values are stripped of leading and trailing HTTP whitespace");

test(() => {
  const h = new Headers();
  h.set("x", "\n\r 1 \t");
  assert_equals(h.get("x"), "1");
}, "set() strips whitespace too");

test(() => {
  const h = new Headers();
  for (const bad of ["a\nb", "a\rb", "a\0b"]) assert_throws_js(TypeError, () => h.append("x", bad), JSON.stringify(bad));
}, "Values with inner CR, LF or NUL throw");

test(() => {
  const h = new Headers();
  for (const bad of ["", "a b", "a:b", "a\u00e9", "(a)", "a/b", "a@b", "[x]", "{x}", 'x"', "a,b", "a;b", "a=b", "a?b", "\u0100"]) {
    assert_throws_js(TypeError, () => h.append(bad, "1"), JSON.stringify(bad));
  }
}, "Invalid header names throw");

test(() => {
  const h = new Headers();
  for (const ok of ["!#$%&'*+-.^_`|~", "X-Custom-Header", "a1", "0"]) h.append(ok, "v");
  assert_equals(h.get("!#$%&'*+-.^_`|~"), "v");
}, "All token characters are valid in names");

test(() => {
  const h = new Headers();
  assert_throws_js(TypeError, () => h.append("x", "\u0100"));
  assert_throws_js(TypeError, () => h.set("x", "\u20ac"));
}, "Values outside ByteString throw");

test(() => {
  const h = new Headers();
  h.append("x", "\u00ff\u0080");
  assert_equals(h.get("x"), "\u00ff\u0080");
}, "Latin-1 values are kept as they are");

test(() => {
  const h = new Headers();
  assert_throws_js(TypeError, () => h.get("a b"));
  assert_throws_js(TypeError, () => h.has("a b"));
  assert_throws_js(TypeError, () => h.delete("a b"));
}, "get/has/delete validate the name");

test(() => {
  const h = new Headers({ b: "2", a: "1", C: "3" });
  assert_array_equals([...h.keys()], ["a", "b", "c"]);
  assert_array_equals([...h.values()], ["1", "2", "3"]);
}, "Iteration is sorted by lowercased name");

test(() => {
  const h = new Headers([
    ["a", "1"],
    ["A", "2"],
  ]);
  const entries = [...h];
  assert_equals(entries.length, 1);
  assert_array_equals(entries[0], ["a", "1, 2"]);
}, "Iteration yields combined values once per name");

test(() => {
  const h = new Headers([
    ["set-cookie", "b=2"],
    ["set-cookie", "a=1"],
    ["x", "1"],
    ["a", "0"],
  ]);
  const entries = [...h].map(([k, v]) => `${k}:${v}`);
  assert_array_equals(entries, ["a:0", "set-cookie:b=2", "set-cookie:a=1", "x:1"]);
}, "Set-Cookie entries are yielded separately, in insertion order");

test(() => {
  const h = new Headers();
  h.append("Set-Cookie", "a=1");
  h.append("set-cookie", "b=2");
  assert_equals(h.get("set-cookie"), "a=1, b=2");
  assert_array_equals(h.getSetCookie(), ["a=1", "b=2"]);
}, "get() combines Set-Cookie values and getSetCookie() lists them");

test(() => {
  const h = new Headers();
  assert_array_equals(h.getSetCookie(), []);
  h.append("x", "1");
  assert_array_equals(h.getSetCookie(), []);
}, "getSetCookie() is empty without cookies");

test(() => {
  const h = new Headers({ "set-cookie": "a=1" });
  h.set("Set-Cookie", "b=2");
  assert_array_equals(h.getSetCookie(), ["b=2"]);
  h.delete("set-cookie");
  assert_array_equals(h.getSetCookie(), []);
}, "set() and delete() on Set-Cookie");

test(() => {
  const h = new Headers({ a: "1", b: "2" });
  const seen = [];
  const self = {};
  h.forEach(function (v, k, o) {
    seen.push([k, v, o === h, this === self]);
  }, self);
  assert_equals(
    JSON.stringify(seen),
    JSON.stringify([
      ["a", "1", true, true],
      ["b", "2", true, true],
    ]),
  );
}, "forEach() passes value, name, the object and thisArg");

test(() => {
  const h = new Headers({ a: "1", c: "3" });
  const it = h.entries();
  assert_array_equals(it.next().value, ["a", "1"]);
  h.append("b", "2");
  assert_array_equals(it.next().value, ["b", "2"]);
}, "Iteration sees headers added during iteration");

test(() => {
  const h = new Headers({ a: "1", b: "2", c: "3" });
  const keys = [];
  for (const [k] of h) {
    keys.push(k);
    if (k === "a") h.delete("b");
  }
  assert_array_equals(keys, ["a", "c"]);
}, "Iteration skips headers deleted during iteration");

test(() => {
  const it = new Headers({ a: "1" })[Symbol.iterator]();
  assert_equals(Object.prototype.toString.call(it), "[object Headers Iterator]");
  assert_equals(typeof it.next, "function");
  assert_true(Object.getPrototypeOf(Object.getPrototypeOf(it)) === Object.getPrototypeOf(Object.getPrototypeOf([][Symbol.iterator]())));
}, "The iterator is a Headers Iterator inheriting %IteratorPrototype%");

test(() => {
  assert_equals(Headers.prototype[Symbol.iterator], Headers.prototype.entries);
}, "@@iterator is entries()");

test(() => {
  for (const m of ["append", "delete", "get", "getSetCookie", "has", "set", "forEach", "entries", "keys", "values"]) {
    assert_equals(typeof Headers.prototype[m], "function", m);
  }
}, "Headers has the standard methods");

test(() => {
  assert_throws_js(TypeError, () => Headers());
}, "Headers cannot be called without new");

test(() => {
  const h = new Headers();
  h.append("x", 1);
  h.append("y", null);
  assert_equals(h.get("x"), "1");
  assert_equals(h.get("y"), "null");
}, "Values are converted to strings");

test(() => {
  const h = new Headers({ a: "1" });
  assert_throws_js(TypeError, () => h.append("a"));
  assert_throws_js(TypeError, () => h.set("a"));
}, "append() and set() need two arguments");

test(() => {
  const h = new Headers();
  h.append("accept", "a");
  h.append("accept", "b");
  h.set("accept", "c");
  assert_equals(h.get("accept"), "c");
}, "set() after several appends leaves one value");

test(() => {
  const r = new Request("http://example.com/", { headers: { "x-a": "1" } });
  r.headers.set("x-b", "2");
  assert_equals(r.headers.get("x-b"), "2");
}, "A Request's headers are mutable");

test(() => {
  const r = Response.error();
  assert_throws_js(TypeError, () => r.headers.set("x", "1"));
  assert_throws_js(TypeError, () => r.headers.append("x", "1"));
  assert_throws_js(TypeError, () => r.headers.delete("x"));
}, "Response.error() has immutable headers");

test(() => {
  const r = Response.redirect("http://example.com/", 301);
  assert_throws_js(TypeError, () => r.headers.set("x", "1"));
}, "Response.redirect() has immutable headers");

test(() => {
  const h = new Headers({ a: "1" });
  assert_equals(h.has("A"), true);
  assert_equals(h.get("A"), "1");
}, "has() and get() are case-insensitive");

test(() => {
  const h = new Headers();
  h.append("content-type", "text/html");
  h.append("Content-Type", "charset=utf-8");
  assert_equals(h.get("content-type"), "text/html, charset=utf-8");
}, "Combined value joins with comma and space");

test(() => {
  assert_throws_js(TypeError, () => new Headers({ "x-\u00e9": "1" }));
}, "Record with an invalid name throws");

test(() => {
  assert_throws_js(TypeError, () => new Headers({ a: "b\nc" }));
}, "Record with an invalid value throws");

test(() => {
  const h = new Headers({ a: "1" });
  const keys = Object.keys(h);
  assert_array_equals(keys, []);
}, "Headers has no own enumerable properties");

test(() => {
  assert_equals(Headers.length, 0);
  assert_equals(Request.length, 1);
  assert_equals(Response.length, 0);
  assert_equals(FormData.length, 0);
}, "Fetch constructor lengths count required arguments");

test(() => {
  const h = new Headers({ a: "1" });
  h[Symbol.iterator] = function* () {
    yield ["from-iterator", "yes"];
  };
  const copy = new Headers(h);
  assert_equals(copy.get("from-iterator"), "yes");
  assert_false(copy.has("a"));
}, "A Headers with its own iterator is copied through that iterator");

test(() => {
  const it = new Headers({ a: "1" }).keys();
  const d = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(it), "next");
  assert_true(d.enumerable && d.writable && d.configurable);
}, "The iterator's next() is an enumerable, writable, configurable method");

test(() => {
  for (const m of ["append", "get", "set", "has", "delete", "forEach", "getSetCookie"]) {
    assert_true(Object.getOwnPropertyDescriptor(Headers.prototype, m).enumerable, m);
  }
}, "Headers methods are enumerable");
