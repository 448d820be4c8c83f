// Sandbox code: which request the isolate is running code for. Imported by the prelude before
// anything else, so every module of the prelude (the streams polyfill among them) sees the wrapped
// Promise.prototype.then when it takes its own copy.
/**
 * The host's id of the request whose code is running, 0 when no request's code is (the module's
 * top level, work left behind by a request the host has since forgotten). Many requests share an
 * instance, so this follows each request's code across everything that defers it:
 * - the synchronous part of a handler: set by the dispatcher around the call;
 * - promise reactions: Promise.prototype.then (and so catch, finally, Promise.all, the streams
 *   polyfill's own reactions) is wrapped below to run each callback as the request that registered
 *   it. The service bundle is built with async/await lowered to generators (src/build/bundle.ts),
 *   so every `await` of the function goes through `then` too; a native `await` would bypass it (V8
 *   gives JS no promise hooks and isolated-vm no AsyncContext);
 * - timers and queueMicrotask: the request that scheduled them (prelude.ts);
 * - a streamed body's pull: the request whose response it is (prelude.ts);
 * - the continuation of the request's own I/O: io() sets it when the host's reply arrives (how a
 *   bundle built without the lowering still gets exact ids right after an await).
 */
export let current = 0;

/** Sets the running request (the dispatcher, timers, the host's calls in). */
export function enter(ctx: number): void {
  current = ctx;
}

/** Runs `fn(v)` as request `ctx`, then restores whatever ran before (reactions may nest). */
export function within<T>(ctx: number, fn: (v: T) => unknown, v: T): unknown {
  const prev = current;
  current = ctx;
  try {
    return fn(v);
  } finally {
    current = prev;
  }
}

type Then = (this: Promise<unknown>, onFulfilled?: unknown, onRejected?: unknown) => Promise<unknown>;
const promiseThen = Reflect.get(Promise.prototype, "then") as Then;
const methods: { then: Then } = {
  // A method, so it has the name "then", length 2 and no prototype, like the built-in.
  then(onFulfilled, onRejected) {
    const ctx = current;
    // Outside any request there is nothing to carry: the reaction runs as registered.
    if (ctx === 0) return promiseThen.call(this, onFulfilled, onRejected);
    return promiseThen.call(
      this,
      typeof onFulfilled === "function" ? (v: unknown) => within(ctx, onFulfilled as (v: unknown) => unknown, v) : onFulfilled,
      typeof onRejected === "function" ? (e: unknown) => within(ctx, onRejected as (e: unknown) => unknown, e) : onRejected,
    );
  },
};
Reflect.defineProperty(Promise.prototype, "then", { value: Reflect.get(methods, "then"), writable: true, configurable: true, enumerable: false });
