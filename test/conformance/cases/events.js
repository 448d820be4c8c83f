// DOM: Event, CustomEvent and EventTarget.

test(() => {
  const e = new Event("x");
  assert_equals(e.type, "x");
  assert_false(e.bubbles);
  assert_false(e.cancelable);
  assert_false(e.composed);
  assert_false(e.defaultPrevented);
  assert_false(e.isTrusted);
  assert_equals(e.target, null);
  assert_equals(e.currentTarget, null);
  assert_equals(e.eventPhase, Event.NONE);
  assert_equals(typeof e.timeStamp, "number");
}, "a new Event's defaults");

test(() => {
  const e = new Event("x", { bubbles: true, cancelable: true, composed: true });
  assert_true(e.bubbles);
  assert_true(e.cancelable);
  assert_true(e.composed);
}, "EventInit");

test(() => {
  assert_throws_js(TypeError, () => new Event());
  assert_throws_js(TypeError, () => Event("x"));
  assert_equals(new Event(undefined + "").type, "undefined");
  assert_equals(new Event(null).type, "null");
}, "Event needs a type and new");

test(() => {
  assert_equals(Event.NONE, 0);
  assert_equals(Event.CAPTURING_PHASE, 1);
  assert_equals(Event.AT_TARGET, 2);
  assert_equals(Event.BUBBLING_PHASE, 3);
  assert_equals(new Event("x").AT_TARGET, 2);
}, "phase constants");

test(() => {
  const e = new Event("x", { cancelable: true });
  e.preventDefault();
  assert_true(e.defaultPrevented);
  const f = new Event("x");
  f.preventDefault();
  assert_false(f.defaultPrevented, "a non-cancelable event cannot be prevented");
}, "preventDefault");

test(() => {
  const e = new Event("x", { cancelable: true });
  e.returnValue = false;
  assert_true(e.defaultPrevented);
  assert_false(e.returnValue);
}, "returnValue");

test(() => {
  const t = new EventTarget();
  const e = new Event("x");
  let seen = null;
  t.addEventListener("x", (ev) => {
    seen = [ev.target, ev.currentTarget, ev.eventPhase];
  });
  assert_true(t.dispatchEvent(e));
  assert_equals(seen[0], t);
  assert_equals(seen[1], t);
  assert_equals(seen[2], Event.AT_TARGET);
  assert_equals(e.eventPhase, Event.NONE, "phase is reset after dispatch");
  assert_equals(e.currentTarget, null, "currentTarget is reset after dispatch");
  assert_equals(e.target, t, "target stays");
}, "dispatch sets target, currentTarget and eventPhase");

test(() => {
  const t = new EventTarget();
  t.addEventListener("x", (e) => e.preventDefault());
  assert_false(t.dispatchEvent(new Event("x", { cancelable: true })));
  assert_true(t.dispatchEvent(new Event("x")));
}, "dispatchEvent returns false when the default was prevented");

test(() => {
  const t = new EventTarget();
  const order = [];
  const a = () => order.push("a");
  t.addEventListener("x", a);
  t.addEventListener("x", () => order.push("b"));
  t.addEventListener("x", a);
  t.dispatchEvent(new Event("x"));
  assert_array_equals(order, ["a", "b"], "duplicates are ignored; order is kept");
}, "listener order and duplicates");

test(() => {
  const t = new EventTarget();
  let n = 0;
  const f = () => n++;
  t.addEventListener("x", f);
  t.removeEventListener("x", f);
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 0);
}, "removeEventListener");

test(() => {
  const t = new EventTarget();
  let n = 0;
  const f = () => n++;
  t.addEventListener("x", f, true);
  t.removeEventListener("x", f);
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1, "capture is part of the listener's identity");
  t.removeEventListener("x", f, { capture: true });
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1);
}, "capture distinguishes listeners");

test(() => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", () => n++, { once: true });
  t.dispatchEvent(new Event("x"));
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1);
}, "once");

test(() => {
  const t = new EventTarget();
  const c = new AbortController();
  let n = 0;
  t.addEventListener("x", () => n++, { signal: c.signal });
  t.dispatchEvent(new Event("x"));
  c.abort();
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1);
}, "a listener's signal removes it");

test(() => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", () => n++, { signal: AbortSignal.abort() });
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 0);
}, "an aborted signal adds no listener");

test(() => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", { handleEvent: () => n++ });
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1);
}, "listener objects with handleEvent");

test(() => {
  const t = new EventTarget();
  const obj = {
    handleEvent() {
      this.seen = this;
    },
  };
  t.addEventListener("x", obj);
  t.dispatchEvent(new Event("x"));
  assert_equals(obj.seen, obj);
}, "handleEvent is called with the object as this");

test(() => {
  const t = new EventTarget();
  t.addEventListener("x", null);
  t.removeEventListener("x", null);
  assert_true(t.dispatchEvent(new Event("x")));
}, "null listeners are ignored");

test(() => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("x", (e) => {
    order.push(1);
    e.stopImmediatePropagation();
  });
  t.addEventListener("x", () => order.push(2));
  t.dispatchEvent(new Event("x"));
  assert_array_equals(order, [1]);
}, "stopImmediatePropagation");

test(() => {
  const t = new EventTarget();
  const order = [];
  t.addEventListener("x", (e) => {
    order.push(1);
    e.stopPropagation();
  });
  t.addEventListener("x", () => order.push(2));
  t.dispatchEvent(new Event("x"));
  assert_array_equals(order, [1, 2], "stopPropagation does not stop listeners on the same target");
}, "stopPropagation");

test(() => {
  const t = new EventTarget();
  const e = new Event("x");
  let thrown = null;
  t.addEventListener("x", () => {
    try {
      t.dispatchEvent(e);
    } catch (err) {
      thrown = err;
    }
  });
  t.dispatchEvent(e);
  assert_throws_dom("InvalidStateError", () => {
    if (thrown) throw thrown;
  });
}, "dispatching an event being dispatched throws InvalidStateError");

test(() => {
  const t = new EventTarget();
  const e = new Event("x");
  t.dispatchEvent(e);
  let n = 0;
  t.addEventListener("x", () => n++);
  t.dispatchEvent(e);
  assert_equals(n, 1, "an event can be dispatched again after it finished");
}, "redispatching a finished event");

test(() => {
  const t = new EventTarget();
  assert_throws_js(TypeError, () => t.dispatchEvent({ type: "x" }));
  assert_throws_js(TypeError, () => t.dispatchEvent());
}, "dispatchEvent needs an Event");

test(() => {
  const t = new EventTarget();
  const order = [];
  const b = () => order.push("b");
  t.addEventListener("x", () => {
    order.push("a");
    t.removeEventListener("x", b);
    t.addEventListener("x", () => order.push("c"));
  });
  t.addEventListener("x", b);
  t.dispatchEvent(new Event("x"));
  assert_array_equals(order, ["a"], "removed listeners do not run; added ones wait for the next dispatch");
}, "listeners added or removed during dispatch");

test(() => {
  const t = new EventTarget();
  let n = 0;
  t.addEventListener("x", () => {
    throw new Error("listener error");
  });
  t.addEventListener("x", () => n++);
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1, "a throwing listener does not stop the others");
}, "listener exceptions are reported, not thrown");

test(() => {
  const e = new Event("x", { cancelable: true });
  const t = new EventTarget();
  t.addEventListener(
    "x",
    (ev) => {
      ev.preventDefault();
    },
    { passive: true },
  );
  t.dispatchEvent(e);
  assert_false(e.defaultPrevented, "passive listeners cannot prevent the default");
}, "passive listeners");

test(() => {
  const e = new Event("x");
  assert_array_equals(e.composedPath(), []);
  const t = new EventTarget();
  let path;
  t.addEventListener("x", (ev) => {
    path = ev.composedPath();
  });
  t.dispatchEvent(e);
  assert_array_equals(path, [t]);
}, "composedPath");

test(() => {
  const e = new Event("x");
  assert_equals(e.srcElement, null);
  assert_false(e.cancelBubble);
  e.cancelBubble = true;
  assert_true(e.cancelBubble);
}, "legacy srcElement and cancelBubble");

test(() => {
  class MyTarget extends EventTarget {}
  const t = new MyTarget();
  let n = 0;
  t.addEventListener("x", () => n++);
  t.dispatchEvent(new Event("x"));
  assert_equals(n, 1);
}, "EventTarget can be subclassed");

test(() => {
  class MyEvent extends Event {
    constructor() {
      super("my");
      this.extra = 1;
    }
  }
  const t = new EventTarget();
  let got;
  t.addEventListener("my", (e) => (got = e));
  const e = new MyEvent();
  t.dispatchEvent(e);
  assert_equals(got, e);
  assert_equals(got.extra, 1);
}, "Event can be subclassed");

test(() => {
  const e = new CustomEvent("c", { detail: { a: 1 }, bubbles: true });
  assert_true(e instanceof Event);
  assert_equals(e.type, "c");
  assert_equals(e.detail.a, 1);
  assert_true(e.bubbles);
  assert_equals(new CustomEvent("c").detail, null);
}, "CustomEvent and detail");

test(() => {
  const t = new EventTarget();
  let detail;
  t.addEventListener("c", (e) => (detail = e.detail));
  t.dispatchEvent(new CustomEvent("c", { detail: 42 }));
  assert_equals(detail, 42);
}, "dispatching a CustomEvent");

test(() => {
  const e = new CustomEvent("x");
  e.initCustomEvent("y", true, true, "d");
  assert_equals(e.type, "y");
  assert_equals(e.detail, "d");
  assert_true(e.bubbles);
}, "initCustomEvent");

test(() => {
  const e = new Event("x");
  e.initEvent("y", true, true);
  assert_equals(e.type, "y");
  assert_true(e.bubbles);
  assert_true(e.cancelable);
}, "initEvent");

test(() => {
  assert_class_string(new Event("x"), "Event");
  assert_class_string(new EventTarget(), "EventTarget");
  assert_class_string(new CustomEvent("x"), "CustomEvent");
}, "class strings");

test(() => {
  const d = Object.getOwnPropertyDescriptor(Event.prototype, "type");
  assert_equals(typeof d.get, "function");
  assert_throws_js(TypeError, () => d.get.call({}));
  const iT = Object.getOwnPropertyDescriptor(new Event("x"), "isTrusted");
  assert_equals(typeof iT.get, "function", "isTrusted is an own unforgeable accessor");
  assert_false(iT.configurable);
}, "Event members are accessors");

test(() => {
  assert_throws_js(TypeError, () => EventTarget.prototype.addEventListener.call({}, "x", () => {}));
}, "EventTarget methods check their receiver");

test(() => {
  const t = new EventTarget();
  let arg;
  t.addEventListener("x", function (e) {
    arg = [this, e];
  });
  const e = new Event("x");
  t.dispatchEvent(e);
  assert_equals(arg[0], t);
  assert_equals(arg[1], e);
}, "function listeners are called with the target as this");
