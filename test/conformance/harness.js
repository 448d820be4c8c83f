// A small testharness.js-shaped harness for the conformance cases (test/conformance/cases/*.js).
// It is a plain script: the runner puts it in front of one case file and runs the pair both in
// Node and inside a fresh isolate, then calls __conformance_run() for the results as JSON. It uses
// only what the language gives (no Web API), so a missing Web API fails its cases, not the harness.
"use strict";
(function (global) {
  const results = [];
  const queue = [];
  const TIMEOUT_MS = 5000;

  class AssertionError extends Error {
    constructor(message) {
      super(message);
      this.name = "AssertionError";
    }
  }

  function fmt(v) {
    try {
      if (typeof v === "string") return JSON.stringify(v);
      if (typeof v === "bigint") return `${v}n`;
      if (Object.is(v, -0)) return "-0";
      if (typeof v === "function") return `function ${v.name || "anonymous"}`;
      if (typeof v === "symbol") return v.toString();
      if (v && typeof v === "object") {
        if (Array.isArray(v)) return `[${v.map(fmt).join(", ")}]`;
        if (ArrayBuffer.isView(v)) return `${Object.prototype.toString.call(v)} [${Array.from(v).join(", ")}]`;
        return Object.prototype.toString.call(v);
      }
      return String(v);
    } catch {
      return "<unprintable>";
    }
  }

  function fail(message, description) {
    throw new AssertionError(description ? `${description}: ${message}` : message);
  }

  function same(a, b) {
    return Object.is(a, b);
  }

  const api = {};

  api.assert_true = (actual, description) => {
    if (actual !== true) fail(`expected true, got ${fmt(actual)}`, description);
  };
  api.assert_false = (actual, description) => {
    if (actual !== false) fail(`expected false, got ${fmt(actual)}`, description);
  };
  api.assert_equals = (actual, expected, description) => {
    if (typeof actual !== typeof expected) fail(`expected (${typeof expected}) ${fmt(expected)}, got (${typeof actual}) ${fmt(actual)}`, description);
    if (!same(actual, expected)) fail(`expected ${fmt(expected)}, got ${fmt(actual)}`, description);
  };
  api.assert_not_equals = (actual, expected, description) => {
    if (same(actual, expected)) fail(`got disallowed value ${fmt(actual)}`, description);
  };
  api.assert_in_array = (actual, expected, description) => {
    if (!expected.some((e) => same(e, actual))) fail(`${fmt(actual)} is not in ${fmt(expected)}`, description);
  };
  api.assert_array_equals = (actual, expected, description) => {
    if (actual === null || typeof actual !== "object") fail(`expected an array-like, got ${fmt(actual)}`, description);
    if (actual.length !== expected.length) fail(`lengths differ: expected ${expected.length}, got ${actual.length} (${fmt(actual)})`, description);
    for (let i = 0; i < expected.length; i++) {
      if (!same(actual[i], expected[i])) fail(`item ${i}: expected ${fmt(expected[i])}, got ${fmt(actual[i])}`, description);
    }
  };
  api.assert_object_equals = (actual, expected, description) => {
    const seen = new Set();
    function check(a, e, path) {
      if (typeof e !== "object" || e === null) {
        if (!same(a, e)) fail(`${path}: expected ${fmt(e)}, got ${fmt(a)}`, description);
        return;
      }
      if (typeof a !== "object" || a === null) fail(`${path}: expected an object, got ${fmt(a)}`, description);
      if (seen.has(e)) return;
      seen.add(e);
      const ka = Object.keys(a).sort();
      const ke = Object.keys(e).sort();
      if (ka.join("\u0000") !== ke.join("\u0000")) fail(`${path}: keys differ: expected ${fmt(ke)}, got ${fmt(ka)}`, description);
      for (const k of ke) check(a[k], e[k], `${path}.${k}`);
    }
    check(actual, expected, "value");
  };
  api.assert_approx_equals = (actual, expected, epsilon, description) => {
    if (typeof actual !== "number" || Math.abs(actual - expected) > epsilon) fail(`expected ${expected} +/- ${epsilon}, got ${fmt(actual)}`, description);
  };
  api.assert_less_than_equal = (actual, expected, description) => {
    if (!(actual <= expected)) fail(`expected <= ${fmt(expected)}, got ${fmt(actual)}`, description);
  };
  api.assert_greater_than = (actual, expected, description) => {
    if (!(actual > expected)) fail(`expected > ${fmt(expected)}, got ${fmt(actual)}`, description);
  };
  api.assert_greater_than_equal = (actual, expected, description) => {
    if (!(actual >= expected)) fail(`expected >= ${fmt(expected)}, got ${fmt(actual)}`, description);
  };
  api.assert_regexp_match = (actual, regexp, description) => {
    if (!regexp.test(actual)) fail(`expected ${fmt(actual)} to match ${regexp}`, description);
  };
  api.assert_class_string = (object, name, description) => {
    const actual = Object.prototype.toString.call(object);
    if (actual !== `[object ${name}]`) fail(`expected [object ${name}], got ${actual}`, description);
  };
  api.assert_unreached = (description) => {
    fail("reached unreachable code", description);
  };

  // The legacy codes WebIDL gives DOMException names (0 for names without one).
  const DOM_CODES = {
    IndexSizeError: 1,
    HierarchyRequestError: 3,
    WrongDocumentError: 4,
    InvalidCharacterError: 5,
    NoModificationAllowedError: 7,
    NotFoundError: 8,
    NotSupportedError: 9,
    InvalidStateError: 11,
    SyntaxError: 12,
    InvalidModificationError: 13,
    NamespaceError: 14,
    InvalidAccessError: 15,
    TypeMismatchError: 17,
    SecurityError: 18,
    NetworkError: 19,
    AbortError: 20,
    URLMismatchError: 21,
    QuotaExceededError: 22,
    TimeoutError: 23,
    InvalidNodeTypeError: 24,
    DataCloneError: 25,
  };

  function checkJsError(e, Ctor, description) {
    if (typeof e !== "object" || e === null) fail(`expected a ${Ctor.name} to be thrown, got ${fmt(e)}`, description);
    if (e.constructor !== Ctor) fail(`expected a ${Ctor.name} to be thrown, got ${e.constructor && e.constructor.name}: ${e.message}`, description);
  }
  function checkDomError(e, name, description) {
    const DOMExceptionCtor = global.DOMException;
    if (typeof DOMExceptionCtor !== "function")
      fail(`expected a DOMException ${name}, but there is no DOMException (got ${fmt(e)}: ${e && e.message})`, description);
    if (!(e instanceof DOMExceptionCtor))
      fail(`expected a DOMException ${name}, got ${e && e.constructor && e.constructor.name}: ${e && e.message}`, description);
    if (e.name !== name) fail(`expected DOMException name ${name}, got ${e.name}`, description);
    if (e.code !== (DOM_CODES[name] || 0)) fail(`expected DOMException code ${DOM_CODES[name] || 0}, got ${e.code}`, description);
  }
  api.assert_throws_js = (Ctor, fn, description) => {
    try {
      fn();
    } catch (e) {
      checkJsError(e, Ctor, description);
      return e;
    }
    fail(`expected a ${Ctor.name} to be thrown, nothing was`, description);
  };
  api.assert_throws_dom = (name, fn, description) => {
    try {
      fn();
    } catch (e) {
      checkDomError(e, name, description);
      return e;
    }
    fail(`expected DOMException ${name} to be thrown, nothing was`, description);
  };
  api.assert_throws_exactly = (value, fn, description) => {
    try {
      fn();
    } catch (e) {
      if (!same(e, value)) fail(`expected ${fmt(value)} to be thrown, got ${fmt(e)}`, description);
      return;
    }
    fail(`expected ${fmt(value)} to be thrown, nothing was`, description);
  };
  api.promise_rejects_js = (_t, Ctor, promise, description) =>
    Promise.resolve(promise).then(
      () => fail(`expected a rejection with ${Ctor.name}, the promise fulfilled`, description),
      (e) => checkJsError(e, Ctor, description),
    );
  api.promise_rejects_dom = (_t, name, promise, description) =>
    Promise.resolve(promise).then(
      () => fail(`expected a rejection with DOMException ${name}, the promise fulfilled`, description),
      (e) => checkDomError(e, name, description),
    );
  api.promise_rejects_exactly = (_t, value, promise, description) =>
    Promise.resolve(promise).then(
      () => fail(`expected a rejection with ${fmt(value)}, the promise fulfilled`, description),
      (e) => {
        if (!same(e, value)) fail(`expected a rejection with ${fmt(value)}, got ${fmt(e)}`, description);
      },
    );

  function record(name, error) {
    results.push(error === null ? { name, status: "PASS" } : { name, status: "FAIL", message: String((error && error.message) || error).slice(0, 500) });
  }

  function makeT() {
    const cleanups = [];
    return {
      cleanups,
      add_cleanup(fn) {
        cleanups.push(fn);
      },
      step(fn, ...args) {
        return fn.apply(this, args);
      },
      step_func(fn) {
        return (...args) => fn.apply(this, args);
      },
      unreached_func(description) {
        return () => api.assert_unreached(description);
      },
    };
  }

  function runCleanups(t) {
    for (const fn of t.cleanups.splice(0)) {
      try {
        fn();
      } catch {
        // a cleanup failing does not change the result
      }
    }
  }

  api.test = (fn, name) => {
    const t = makeT();
    try {
      fn(t);
      record(name, null);
    } catch (e) {
      record(name, e);
    } finally {
      runCleanups(t);
    }
  };
  api.promise_test = (fn, name) => {
    queue.push({ fn, name });
  };
  api.setup = () => {};
  api.done = () => {};

  // Timers are a Web API too: if there is no setTimeout, promise tests simply cannot time out.
  function withTimeout(promise, name) {
    if (typeof global.setTimeout !== "function") return promise;
    let id;
    const timer = new Promise((_, reject) => {
      id = global.setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms: ${name}`)), TIMEOUT_MS);
    });
    return Promise.race([promise, timer]).finally(() => global.clearTimeout(id));
  }

  global.__conformance_run = async () => {
    for (const { fn, name } of queue) {
      const t = makeT();
      try {
        await withTimeout(
          Promise.resolve().then(() => fn(t)),
          name,
        );
        record(name, null);
      } catch (e) {
        record(name, e);
      } finally {
        runCleanups(t);
      }
    }
    return JSON.stringify(results);
  };
  global.__conformance_record_load_error = (e) => record("(case file loads)", e);

  for (const [k, v] of Object.entries(api)) global[k] = v;
})(globalThis);
