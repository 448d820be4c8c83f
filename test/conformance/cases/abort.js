// DOM: AbortController and AbortSignal.

test(() => {
  const c = new AbortController();
  assert_true(c.signal instanceof AbortSignal);
  assert_true(c.signal instanceof EventTarget);
  assert_equals(c.signal, c.signal, "the same signal every time");
  assert_false(c.signal.aborted);
  assert_equals(c.signal.reason, undefined);
}, "a new controller's signal is not aborted");

test(() => {
  const c = new AbortController();
  c.abort();
  assert_true(c.signal.aborted);
  assert_true(c.signal.reason instanceof DOMException);
  assert_equals(c.signal.reason.name, "AbortError");
}, "abort() without a reason gives an AbortError DOMException");

test(() => {
  const c = new AbortController();
  const reason = { why: "because" };
  c.abort(reason);
  assert_equals(c.signal.reason, reason);
}, "abort(reason) keeps the reason");

test(() => {
  const c = new AbortController();
  c.abort(undefined);
  assert_equals(c.signal.reason.name, "AbortError");
  const d = new AbortController();
  d.abort(null);
  assert_equals(d.signal.reason, null, "null is a reason");
}, "undefined means no reason");

test(() => {
  const c = new AbortController();
  let n = 0;
  let event = null;
  c.signal.addEventListener("abort", (e) => {
    n++;
    event = e;
  });
  c.abort("first");
  c.abort("second");
  assert_equals(n, 1, "abort fires once");
  assert_equals(c.signal.reason, "first", "the first reason stays");
  assert_equals(event.type, "abort");
  assert_false(event.bubbles);
  assert_false(event.cancelable);
  assert_true(event.isTrusted);
  assert_equals(event.target, c.signal);
}, "the abort event fires once");

test(() => {
  const c = new AbortController();
  let seen;
  c.signal.onabort = (e) => {
    seen = e.type;
  };
  c.abort();
  assert_equals(seen, "abort");
}, "onabort");

test(() => {
  const c = new AbortController();
  let aborted;
  c.signal.addEventListener("abort", () => {
    aborted = c.signal.aborted;
  });
  c.abort();
  assert_true(aborted, "aborted is set before the event fires");
}, "aborted is true inside the abort listener");

test(() => {
  const c = new AbortController();
  c.signal.throwIfAborted();
  c.abort("r");
  assert_throws_exactly("r", () => c.signal.throwIfAborted());
}, "throwIfAborted");

test(() => {
  const s = AbortSignal.abort();
  assert_true(s.aborted);
  assert_equals(s.reason.name, "AbortError");
  assert_equals(AbortSignal.abort("x").reason, "x");
}, "AbortSignal.abort()");

test(() => {
  assert_throws_js(TypeError, () => new AbortSignal());
}, "AbortSignal cannot be constructed");

promise_test(async () => {
  const s = AbortSignal.timeout(10);
  assert_false(s.aborted);
  await new Promise((resolve) => s.addEventListener("abort", resolve));
  assert_true(s.aborted);
  assert_true(s.reason instanceof DOMException);
  assert_equals(s.reason.name, "TimeoutError");
}, "AbortSignal.timeout() aborts with a TimeoutError");

test(() => {
  assert_throws_js(TypeError, () => AbortSignal.timeout(-1));
  assert_throws_js(TypeError, () => AbortSignal.timeout(Infinity));
}, "AbortSignal.timeout() needs a non-negative finite time");

test(() => {
  const a = new AbortController();
  const b = new AbortController();
  const s = AbortSignal.any([a.signal, b.signal]);
  assert_false(s.aborted);
  let fired = 0;
  s.addEventListener("abort", () => fired++);
  b.abort("b");
  assert_true(s.aborted);
  assert_equals(s.reason, "b");
  a.abort("a");
  assert_equals(s.reason, "b");
  assert_equals(fired, 1);
}, "AbortSignal.any() follows the first signal to abort");

test(() => {
  const a = AbortSignal.abort("already");
  const s = AbortSignal.any([new AbortController().signal, a]);
  assert_true(s.aborted);
  assert_equals(s.reason, "already");
}, "AbortSignal.any() of an aborted signal is aborted");

test(() => {
  const s = AbortSignal.any([]);
  assert_false(s.aborted);
}, "AbortSignal.any([]) never aborts");

test(() => {
  const a = new AbortController();
  const s1 = AbortSignal.any([a.signal]);
  const s2 = AbortSignal.any([s1]);
  const order = [];
  a.signal.addEventListener("abort", () => order.push("a"));
  s1.addEventListener("abort", () => order.push("s1"));
  s2.addEventListener("abort", () => order.push("s2"));
  a.abort();
  assert_array_equals(order, ["a", "s1", "s2"]);
  assert_equals(s2.reason, a.signal.reason);
}, "dependent signals abort in order");

test(() => {
  const a = new AbortController();
  const s = AbortSignal.any([a.signal]);
  let inner;
  s.addEventListener("abort", () => {
    inner = a.signal.aborted;
  });
  a.abort();
  assert_true(inner);
}, "a source signal is aborted before its dependents' events fire");

test(() => {
  assert_throws_js(TypeError, () => AbortSignal.any([{}]));
}, "AbortSignal.any() takes only signals");

test(() => {
  const c = new AbortController();
  assert_class_string(c, "AbortController");
  assert_class_string(c.signal, "AbortSignal");
}, "class strings");

test(() => {
  const d = Object.getOwnPropertyDescriptor(AbortSignal.prototype, "aborted");
  assert_equals(typeof d.get, "function");
  assert_throws_js(TypeError, () => d.get.call({}));
  assert_throws_js(TypeError, () => AbortController.prototype.abort.call({}));
}, "members check their receiver");

test(() => {
  const c = new AbortController();
  let signalInListener;
  c.signal.addEventListener("abort", function () {
    signalInListener = this;
  });
  c.abort();
  assert_equals(signalInListener, c.signal);
}, "listeners run with the signal as this");

promise_test(async () => {
  const c = new AbortController();
  const p = new Promise((_, reject) => {
    c.signal.addEventListener("abort", () => reject(c.signal.reason));
  });
  c.abort(new Error("stop"));
  await promise_rejects_js(null, Error, p);
}, "a reason reaches promise-based consumers");

test(() => {
  const c = new AbortController();
  let count = 0;
  c.signal.addEventListener("abort", () => count++, { once: true });
  c.abort();
  assert_equals(count, 1);
}, "signal listeners accept options");
