// HTML: structuredClone() (StructuredSerializeWithTransfer / StructuredDeserialize).

function roundTrip(v) {
  return structuredClone(v);
}

const primitives = [
  ["undefined", undefined],
  ["null", null],
  ["true", true],
  ["a number", 1.5],
  ["-0", -0],
  ["NaN", NaN],
  ["Infinity", -Infinity],
  ["a string", "h\u00e9llo\ud800"],
  ["a bigint", 12345678901234567890n],
];
for (const [name, v] of primitives) {
  test(() => assert_equals(roundTrip(v), v), `clones ${name}`);
}

test(() => {
  const o = { a: 1, b: { c: [1, 2, { d: "e" }] } };
  const c = roundTrip(o);
  assert_not_equals(c, o);
  assert_not_equals(c.b, o.b);
  assert_object_equals(c, o);
}, "deep-clones plain objects and arrays");

test(() => {
  const o = { x: 1 };
  o.self = o;
  const arr = [o, o];
  const c = roundTrip(arr);
  assert_equals(c[0], c[1], "shared references stay shared");
  assert_equals(c[0].self, c[0], "cycles are kept");
}, "cycles and shared references");

test(() => {
  const a = [1, , 3];
  a.extra = "x";
  const c = roundTrip(a);
  assert_equals(c.length, 3);
  assert_false(1 in c, "holes stay holes");
  assert_equals(c.extra, "x", "non-index properties are kept");
}, "sparse arrays and extra properties");

test(() => {
  const o = { b: 1, a: 2, 1: "x" };
  assert_array_equals(Object.keys(roundTrip(o)), ["1", "b", "a"]);
}, "property order is kept");

test(() => {
  const sym = Symbol("s");
  const o = { [sym]: 1, a: 1 };
  Object.defineProperty(o, "hidden", { value: 1, enumerable: false });
  const c = roundTrip(o);
  assert_equals(c[sym], undefined);
  assert_false("hidden" in c);
  assert_equals(c.a, 1);
}, "symbol-keyed and non-enumerable properties are dropped");

test(() => {
  const o = {
    get g() {
      return 42;
    },
  };
  const c = roundTrip(o);
  assert_equals(Object.getOwnPropertyDescriptor(c, "g").value, 42, "getters are read into data properties");
}, "getters are invoked");

test(() => {
  class K {
    constructor() {
      this.v = 1;
    }
    m() {}
  }
  const c = roundTrip(new K());
  assert_equals(Object.getPrototypeOf(c), Object.prototype);
  assert_equals(c.v, 1);
}, "class instances become plain objects");

test(() => {
  const cases = [new Boolean(false), new Number(-0), new String("s"), Object(3n)];
  for (const w of cases) {
    const c = roundTrip(w);
    assert_not_equals(c, w);
    assert_equals(typeof c, "object");
    assert_equals(Object.prototype.toString.call(c), Object.prototype.toString.call(w));
    assert_equals(c.valueOf(), w.valueOf());
  }
}, "primitive wrapper objects");

test(() => {
  const d = new Date(1234567890123);
  const c = roundTrip(d);
  assert_true(c instanceof Date);
  assert_equals(c.getTime(), d.getTime());
  assert_true(Number.isNaN(roundTrip(new Date(NaN)).getTime()));
}, "Date");

test(() => {
  const r = /ab+c/gimsuy;
  r.lastIndex = 3;
  const c = roundTrip(r);
  assert_true(c instanceof RegExp);
  assert_equals(c.source, "ab+c");
  assert_equals(c.flags, r.flags);
  assert_equals(c.lastIndex, 0, "lastIndex is not kept");
}, "RegExp");

test(() => {
  const m = new Map([
    [1, "a"],
    [{ k: 1 }, new Set([1])],
  ]);
  const c = roundTrip(m);
  assert_true(c instanceof Map);
  assert_equals(c.size, 2);
  assert_equals(c.get(1), "a");
  const [[, ,], [key, value]] = [...c];
  assert_equals(key.k, 1);
  assert_true(value instanceof Set && value.has(1));
}, "Map and Set");

test(() => {
  const buf = new Uint8Array([1, 2, 3]).buffer;
  const c = roundTrip(buf);
  assert_true(c instanceof ArrayBuffer);
  assert_not_equals(c, buf);
  assert_array_equals(new Uint8Array(c), [1, 2, 3]);
}, "ArrayBuffer");

test(() => {
  const buf = new ArrayBuffer(4, { maxByteLength: 16 });
  const c = roundTrip(buf);
  assert_true(c.resizable);
  assert_equals(c.maxByteLength, 16);
}, "resizable ArrayBuffer");

test(() => {
  for (const C of [
    Int8Array,
    Uint8Array,
    Uint8ClampedArray,
    Int16Array,
    Uint16Array,
    Int32Array,
    Uint32Array,
    Float32Array,
    Float64Array,
    BigInt64Array,
    BigUint64Array,
  ]) {
    const src = new C(4);
    const c = roundTrip(src);
    assert_equals(c.constructor, C, C.name);
    assert_equals(c.length, 4, C.name);
  }
}, "every typed array type");

test(() => {
  const buf = new ArrayBuffer(8);
  const a = new Uint8Array(buf, 2, 3);
  const b = new DataView(buf, 1, 4);
  const [ca, cb] = roundTrip([a, b]);
  assert_equals(ca.buffer, cb.buffer, "views of one buffer share the cloned buffer");
  assert_equals(ca.byteOffset, 2);
  assert_equals(ca.length, 3);
  assert_true(cb instanceof DataView);
  assert_equals(cb.byteOffset, 1);
  assert_equals(cb.byteLength, 4);
}, "views keep offsets and share their buffer");

test(() => {
  const errors = [
    new Error("e"),
    new EvalError("e"),
    new RangeError("e"),
    new ReferenceError("e"),
    new SyntaxError("e"),
    new TypeError("e"),
    new URIError("e"),
  ];
  for (const e of errors) {
    const c = roundTrip(e);
    assert_equals(Object.getPrototypeOf(c), Object.getPrototypeOf(e), e.name);
    assert_equals(c.name, e.name);
    assert_equals(c.message, "e");
  }
}, "Error types");

test(() => {
  const e = new Error("outer", { cause: new TypeError("inner") });
  const c = roundTrip(e);
  assert_true(c.cause instanceof TypeError);
  assert_equals(c.cause.message, "inner");
}, "Error cause");

test(() => {
  const e = new Error("x");
  e.name = "CustomName";
  const c = roundTrip(e);
  assert_equals(c.name, "Error", "an unknown name becomes Error");
  assert_equals(Object.getPrototypeOf(c), Error.prototype);
}, "Error with an unknown name");

test(() => {
  const e = new Error();
  assert_false("message" in roundTrip(e) && Object.prototype.hasOwnProperty.call(roundTrip(e), "message"));
}, "Error without a message has no own message");

test(() => {
  const e = new TypeError("boom");
  const c = roundTrip(e);
  assert_equals(typeof c.stack, "string");
}, "Error stack is kept");

test(() => {
  const e = new DOMException("msg", "AbortError");
  const c = roundTrip(e);
  assert_true(c instanceof DOMException);
  assert_equals(c.name, "AbortError");
  assert_equals(c.message, "msg");
  assert_equals(c.code, 20);
}, "DOMException");

test(() => {
  assert_throws_dom("DataCloneError", () => structuredClone(() => {}));
  assert_throws_dom("DataCloneError", () => structuredClone({ f() {} }));
}, "functions throw DataCloneError");

test(() => {
  assert_throws_dom("DataCloneError", () => structuredClone(Symbol("x")));
  assert_throws_dom("DataCloneError", () => structuredClone([Symbol.iterator]));
}, "symbols throw DataCloneError");

test(() => {
  assert_throws_dom("DataCloneError", () => structuredClone(new WeakMap()));
  assert_throws_dom("DataCloneError", () => structuredClone(new WeakSet()));
  assert_throws_dom("DataCloneError", () => structuredClone(Promise.resolve()));
  assert_throws_dom("DataCloneError", () => structuredClone(new WeakRef({})));
}, "weak collections and promises throw DataCloneError");

test(() => {
  assert_throws_dom("DataCloneError", () => structuredClone(new Proxy({}, {})));
}, "proxies throw DataCloneError");

test(() => {
  assert_throws_js(TypeError, () => structuredClone());
  assert_equals(structuredClone.length, 1);
}, "structuredClone needs an argument");

test(() => {
  const err = new RangeError("thrown by a getter");
  assert_throws_exactly(err, () =>
    structuredClone({
      get x() {
        throw err;
      },
    }),
  );
}, "an exception from a getter propagates");

test(() => {
  const buf = new Uint8Array([1, 2, 3]).buffer;
  const c = structuredClone(buf, { transfer: [buf] });
  assert_equals(buf.byteLength, 0, "the source is detached");
  assert_array_equals(new Uint8Array(c), [1, 2, 3]);
}, "transfer detaches an ArrayBuffer");

test(() => {
  const buf = new ArrayBuffer(4);
  const view = new Uint8Array(buf);
  const c = structuredClone({ view }, { transfer: [buf] });
  assert_equals(c.view.buffer.byteLength, 4);
  assert_equals(buf.byteLength, 0);
}, "transfer of a buffer a cloned view uses");

test(() => {
  const buf = new ArrayBuffer(4);
  assert_throws_dom("DataCloneError", () => structuredClone(buf, { transfer: [buf, buf] }));
  assert_equals(buf.byteLength, 4, "nothing is detached on failure");
}, "transferring a buffer twice throws DataCloneError");

test(() => {
  const buf = new ArrayBuffer(4);
  structuredClone(buf, { transfer: [buf] });
  assert_throws_dom("DataCloneError", () => structuredClone(buf));
}, "cloning a detached buffer throws DataCloneError");

test(() => {
  assert_throws_js(TypeError, () => structuredClone(1, { transfer: 5 }));
  assert_throws_dom("DataCloneError", () => structuredClone(1, { transfer: [{}] }));
}, "transfer must be a sequence of transferables");

promise_test(async () => {
  const b = new Blob(["hello"], { type: "text/plain" });
  const c = structuredClone(b);
  assert_true(c instanceof Blob);
  assert_not_equals(c, b);
  assert_equals(c.type, "text/plain");
  assert_equals(await c.text(), "hello");
}, "Blob");

promise_test(async () => {
  const f = new File(["x"], "name.txt", { type: "text/plain", lastModified: 42 });
  const c = structuredClone(f);
  assert_true(c instanceof File);
  assert_equals(c.name, "name.txt");
  assert_equals(c.lastModified, 42);
  assert_equals(await c.text(), "x");
}, "File");

test(() => {
  const o = { a: new Map([["k", [new Date(0)]]]) };
  const c = roundTrip(o);
  assert_equals(c.a.get("k")[0].getTime(), 0);
}, "nested structures");
