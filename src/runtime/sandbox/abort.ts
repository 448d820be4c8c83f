// Sandbox code: AbortController and AbortSignal as the DOM standard defines them: abort(reason),
// reason, throwIfAborted(), onabort, and the static abort(), timeout() and any().
import { DOMException } from "./dom-exception.ts";
import { Event, EventTarget, markTrusted, setSignalHooks } from "./events.ts";

const CREATE = Symbol("create");
type Handler = ((this: AbortSignal, event: Event) => unknown) | null;

/** DOM "signal abort", set by AbortSignal for AbortController. */
let signalAbort: (signal: AbortSignal, reason: unknown) => void;

/** A DOM AbortSignal. */
export class AbortSignal extends EventTarget {
  #aborted = false;
  #reason: unknown = undefined;
  #algorithms: (() => void)[] = [];
  #dependent = false;
  #sources: AbortSignal[] = [];
  #dependents: AbortSignal[] = [];
  #onabort: Handler = null;
  #onabortListener: ((event: Event) => void) | null = null;

  constructor(token?: symbol) {
    if (token !== CREATE)
      throw new TypeError("Illegal constructor: use new AbortController().signal, AbortSignal.abort(), AbortSignal.timeout() or AbortSignal.any()");
    super();
  }

  get aborted(): boolean {
    return this.#aborted;
  }

  get reason(): unknown {
    return this.#reason;
  }

  throwIfAborted(): void {
    if (this.#aborted) throw this.#reason;
  }

  get onabort(): Handler {
    return this.#onabort;
  }

  set onabort(value: Handler) {
    this.#onabort = typeof value === "function" || (typeof value === "object" && value !== null) ? value : null;
    // An event handler is one listener, added where it was first set and kept there.
    if (this.#onabort && !this.#onabortListener) {
      this.#onabortListener = (event: Event) => {
        const h = this.#onabort;
        if (typeof h === "function") h.call(this, event);
      };
      this.addEventListener("abort", this.#onabortListener);
    }
  }

  /** A signal aborted with `reason` (an AbortError DOMException when omitted). */
  static abort(reason?: unknown): AbortSignal {
    const s = new AbortSignal(CREATE);
    s.#aborted = true;
    s.#reason = reason === undefined ? abortError() : reason;
    return s;
  }

  /** A signal that aborts with a TimeoutError DOMException after `milliseconds`. */
  static timeout(milliseconds: number): AbortSignal {
    if (arguments.length < 1) throw new TypeError("AbortSignal.timeout: 1 argument required, but only 0 present");
    const ms = enforceRange(milliseconds);
    const s = new AbortSignal(CREATE);
    const setTimeout = (globalThis as { setTimeout?: (fn: () => void, ms: number) => unknown }).setTimeout;
    setTimeout?.(() => s.#signalAbort(new DOMException("signal timed out", "TimeoutError")), ms);
    return s;
  }

  /** A signal that aborts as soon as any of `signals` does, with its reason. */
  static any(signals: Iterable<AbortSignal>): AbortSignal {
    if (arguments.length < 1) throw new TypeError("AbortSignal.any: 1 argument required, but only 0 present");
    if (signals === null || typeof signals !== "object" || typeof (signals as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
      throw new TypeError("AbortSignal.any: the argument must be an iterable of AbortSignal");
    }
    const list = [...signals];
    for (const x of list)
      if (!(typeof x === "object" && x !== null && #aborted in x)) throw new TypeError("AbortSignal.any: every item must be an AbortSignal");
    const result = new AbortSignal(CREATE);
    for (const s of list) {
      if (s.#aborted) {
        result.#aborted = true;
        result.#reason = s.#reason;
        return result;
      }
    }
    result.#dependent = true;
    for (const s of list) {
      const sources = s.#dependent ? s.#sources : [s];
      for (const src of sources) {
        if (src.#aborted || result.#sources.includes(src)) continue;
        result.#sources.push(src);
        src.#dependents.push(result);
      }
    }
    return result;
  }

  /** DOM "signal abort". */
  #signalAbort(reason: unknown): void {
    if (this.#aborted) return;
    this.#aborted = true;
    this.#reason = reason === undefined ? abortError() : reason;
    const toAbort: AbortSignal[] = [];
    for (const d of this.#dependents) {
      if (d.#aborted) continue;
      d.#aborted = true;
      d.#reason = this.#reason;
      toAbort.push(d);
    }
    this.#runAbortSteps();
    for (const d of toAbort) d.#runAbortSteps();
  }

  #runAbortSteps(): void {
    const algorithms = this.#algorithms;
    this.#algorithms = [];
    for (const fn of algorithms) fn();
    // Nothing to follow any more: let go of the links so neither side keeps the other alive.
    for (const src of this.#sources) src.#dependents = src.#dependents.filter((d) => d !== this);
    this.#sources = [];
    this.#dependents = [];
    this.dispatchEvent(markTrusted(new Event("abort")));
  }

  static {
    signalAbort = (signal, reason) => signal.#signalAbort(reason);
    setSignalHooks({
      aborted: (s) => (typeof s === "object" && s !== null && #aborted in s ? s.#aborted : null),
      onAbort: (s, fn) => (s as AbortSignal).#algorithms.push(fn),
    });
  }
}

function abortError(): DOMException {
  return new DOMException("This operation was aborted", "AbortError");
}

/** WebIDL [EnforceRange] unsigned long long. */
function enforceRange(v: unknown): number {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new TypeError(`AbortSignal.timeout: ${String(v)} is not a finite number of milliseconds`);
  const t = Math.trunc(n);
  if (t < 0 || t > Number.MAX_SAFE_INTEGER) throw new TypeError(`AbortSignal.timeout: ${String(v)} is outside 0..${Number.MAX_SAFE_INTEGER}`);
  return t;
}

/** A DOM AbortController. */
export class AbortController {
  #signal = new AbortSignal(CREATE);

  get signal(): AbortSignal {
    return this.#signal;
  }

  abort(reason?: unknown): void {
    signalAbort(this.#signal, reason);
  }
}

for (const C of [AbortSignal, AbortController]) {
  const proto = C.prototype as object;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === "constructor") continue;
    Object.defineProperty(proto, key, { ...Object.getOwnPropertyDescriptor(proto, key)!, enumerable: true });
  }
  Object.defineProperty(proto, Symbol.toStringTag, { value: C.name, configurable: true });
}
