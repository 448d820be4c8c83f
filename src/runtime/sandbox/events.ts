// Sandbox code: Event, CustomEvent and EventTarget as the DOM standard defines them for targets
// outside a node tree (the event path is the target alone): listener options (capture, once,
// passive, signal), dispatch flags, legacy members, and WebIDL-shaped accessors.
import { DOMException } from "./dom-exception.ts";

/** What a listener may be: a function or an object with handleEvent. */
type Callback = ((event: Event) => unknown) | { handleEvent(event: Event): unknown };

interface Listener {
  type: string;
  callback: Callback;
  capture: boolean;
  passive: boolean;
  once: boolean;
  removed: boolean;
}

/** What a signal must offer for addEventListener's `signal` option (abort.ts provides it). */
interface SignalHooks {
  aborted(signal: unknown): boolean | null;
  onAbort(signal: unknown, fn: () => void): void;
}
let signalHooks: SignalHooks | null = null;
/** Lets abort.ts teach addEventListener about AbortSignal without an import cycle. */
export function setSignalHooks(hooks: SignalHooks): void {
  signalHooks = hooks;
}

let clock: () => number = () => Date.now();
/** Sets the clock Event.timeStamp reads (performance.now once the prelude has it). */
export function setEventClock(now: () => number): void {
  clock = now;
}

const trusted = new WeakSet<Event>();
function isTrustedGetter(this: Event): boolean {
  return trusted.has(this);
}

function needArgs(what: string, n: number, got: number): void {
  if (got < n) throw new TypeError(`${what}: ${n} argument${n > 1 ? "s" : ""} required, but only ${got} present`);
}

/** Dispatches `event` at `target` (DOM "dispatch" for a target outside any tree); set by Event. */
let dispatch: (target: EventTarget, event: Event, listeners: Listener[] | undefined) => boolean;

/** A DOM Event. */
export class Event {
  static readonly NONE = 0;
  static readonly CAPTURING_PHASE = 1;
  static readonly AT_TARGET = 2;
  static readonly BUBBLING_PHASE = 3;

  #type: string;
  #bubbles: boolean;
  #cancelable: boolean;
  #composed: boolean;
  #target: EventTarget | null = null;
  #currentTarget: EventTarget | null = null;
  #phase = 0;
  #canceled = false;
  #stop = false;
  #stopImmediate = false;
  #dispatching = false;
  #passive = false;
  #timeStamp: number;

  constructor(type: string, eventInitDict?: { bubbles?: boolean; cancelable?: boolean; composed?: boolean }) {
    needArgs("Event constructor", 1, arguments.length);
    this.#type = String(type);
    const init = dictionary(eventInitDict, "EventInit");
    this.#bubbles = Boolean(init["bubbles"]);
    this.#cancelable = Boolean(init["cancelable"]);
    this.#composed = Boolean(init["composed"]);
    this.#timeStamp = clock();
    Object.defineProperty(this, "isTrusted", { get: isTrustedGetter, enumerable: true, configurable: false });
  }

  get type(): string {
    return this.#type;
  }
  get target(): EventTarget | null {
    return this.#target;
  }
  get srcElement(): EventTarget | null {
    return this.#target;
  }
  get currentTarget(): EventTarget | null {
    return this.#currentTarget;
  }
  get eventPhase(): number {
    return this.#phase;
  }
  get bubbles(): boolean {
    return this.#bubbles;
  }
  get cancelable(): boolean {
    return this.#cancelable;
  }
  get composed(): boolean {
    return this.#composed;
  }
  get defaultPrevented(): boolean {
    return this.#canceled;
  }
  get timeStamp(): number {
    return this.#timeStamp;
  }
  get cancelBubble(): boolean {
    return this.#stop;
  }
  set cancelBubble(value: boolean) {
    if (value) this.#stop = true;
  }
  get returnValue(): boolean {
    return !this.#canceled;
  }
  set returnValue(value: boolean) {
    if (!value) this.#cancel();
  }
  /** The targets the event travels: while dispatching, its target alone. */
  composedPath(): EventTarget[] {
    return this.#currentTarget ? [this.#currentTarget] : [];
  }
  stopPropagation(): void {
    this.#stop = true;
  }
  stopImmediatePropagation(): void {
    this.#stop = true;
    this.#stopImmediate = true;
  }
  preventDefault(): void {
    this.#cancel();
  }
  initEvent(type: string, bubbles = false, cancelable = false): void {
    needArgs("initEvent", 1, arguments.length);
    if (this.#dispatching) return;
    this.#type = String(type);
    this.#bubbles = Boolean(bubbles);
    this.#cancelable = Boolean(cancelable);
    this.#stop = false;
    this.#stopImmediate = false;
    this.#canceled = false;
    trusted.delete(this);
    this.#target = null;
  }
  #cancel(): void {
    if (this.#cancelable && !this.#passive) this.#canceled = true;
  }

  static {
    dispatch = (target, event, listeners) => {
      if (!(#type in event)) throw new TypeError("dispatchEvent: the argument is not an Event");
      if (event.#dispatching) throw new DOMException("dispatchEvent: the event is already being dispatched", "InvalidStateError");
      event.#dispatching = true;
      event.#target = target;
      event.#currentTarget = target;
      event.#phase = Event.AT_TARGET;
      try {
        if (listeners && listeners.length > 0 && !event.#stop) {
          // Listeners added during dispatch wait for the next one; removed ones are skipped.
          const snapshot = listeners.slice();
          for (const capturePass of [true, false]) {
            for (const l of snapshot) {
              if (l.removed || l.capture !== capturePass || l.type !== event.#type) continue;
              if (l.once) removeListener(listeners, l);
              event.#passive = l.passive;
              invoke(l.callback, target, event);
              event.#passive = false;
              if (event.#stopImmediate) break;
            }
            if (event.#stopImmediate) break;
          }
        }
      } finally {
        event.#dispatching = false;
        event.#phase = Event.NONE;
        event.#currentTarget = null;
        event.#stop = false;
        event.#stopImmediate = false;
      }
      return !event.#canceled;
    };
  }
}

/** Marks an event as dispatched by the platform (isTrusted) rather than by script. */
export function markTrusted(event: Event): Event {
  trusted.add(event);
  return event;
}

function invoke(callback: Callback, target: EventTarget, event: Event): void {
  try {
    if (typeof callback === "function") {
      callback.call(target, event);
    } else {
      // eslint-disable-next-line @typescript-eslint/unbound-method -- called with the object as this
      const handle = callback.handleEvent;
      if (typeof handle !== "function") throw new TypeError("the event listener has no handleEvent method");
      handle.call(callback, event);
    }
  } catch (e) {
    // DOM "report the exception": the other listeners still run and dispatchEvent does not throw.
    const c = (globalThis as { console?: { error(...a: unknown[]): void } }).console;
    try {
      c?.error("Uncaught exception in event listener:", e);
    } catch {
      // the console itself failed: nothing more can be done
    }
  }
}

function removeListener(list: Listener[], l: Listener): void {
  l.removed = true;
  const i = list.indexOf(l);
  if (i >= 0) list.splice(i, 1);
}

function dictionary(v: unknown, what: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" && typeof v !== "function") throw new TypeError(`${what} must be an object`);
  return v as Record<string, unknown>;
}

function flatten(options: unknown): { capture: boolean; once: boolean; passive: boolean; signal: unknown } {
  if (typeof options === "boolean" || options === undefined || options === null || (typeof options !== "object" && typeof options !== "function")) {
    return { capture: Boolean(options), once: false, passive: false, signal: undefined };
  }
  const o = options as Record<string, unknown>;
  const signal = o["signal"];
  return { capture: Boolean(o["capture"]), once: Boolean(o["once"]), passive: Boolean(o["passive"]), signal };
}

/** A DOM EventTarget. */
export class EventTarget {
  #listeners = new Map<string, Listener[]>();

  addEventListener(
    type: string,
    callback: Callback | null,
    options?: boolean | { capture?: boolean; once?: boolean; passive?: boolean; signal?: unknown },
  ): void {
    needArgs("addEventListener", 2, arguments.length);
    const map = this.#listeners;
    const t = String(type);
    const o = flatten(options);
    if (o.signal !== undefined) {
      const aborted = signalHooks?.aborted(o.signal);
      if (aborted === null || aborted === undefined) throw new TypeError("addEventListener: options.signal is not an AbortSignal");
      if (aborted) return;
    }
    if (callback === null || callback === undefined) return;
    if (typeof callback !== "function" && typeof callback !== "object") throw new TypeError("addEventListener: the listener must be a function or an object");
    let list = map.get(t);
    if (!list) map.set(t, (list = []));
    if (list.some((l) => l.callback === callback && l.capture === o.capture)) return;
    const l: Listener = { type: t, callback, capture: o.capture, passive: o.passive, once: o.once, removed: false };
    list.push(l);
    if (o.signal !== undefined) signalHooks!.onAbort(o.signal, () => removeListener(list, l));
  }

  removeEventListener(type: string, callback: Callback | null, options?: boolean | { capture?: boolean }): void {
    needArgs("removeEventListener", 2, arguments.length);
    const list = this.#listeners.get(String(type));
    if (!list || callback === null || callback === undefined) return;
    const capture = flatten(options).capture;
    const l = list.find((x) => x.callback === callback && x.capture === capture);
    if (l) removeListener(list, l);
  }

  dispatchEvent(event: Event): boolean {
    needArgs("dispatchEvent", 1, arguments.length);
    if (typeof event !== "object" || event === null) throw new TypeError("dispatchEvent: the argument is not an Event");
    return dispatch(this, event, this.#listeners.get(String(event.type)));
  }
}

/** A DOM CustomEvent: an Event with a `detail`. */
export class CustomEvent<T = unknown> extends Event {
  #detail: T | null;

  constructor(type: string, eventInitDict?: { bubbles?: boolean; cancelable?: boolean; composed?: boolean; detail?: T }) {
    needArgs("CustomEvent constructor", 1, arguments.length);
    super(type, eventInitDict);
    const init = dictionary(eventInitDict, "CustomEventInit");
    this.#detail = init["detail"] === undefined ? null : (init["detail"] as T);
  }

  get detail(): T | null {
    return this.#detail;
  }

  initCustomEvent(type: string, bubbles = false, cancelable = false, detail: T | null = null): void {
    needArgs("initCustomEvent", 1, arguments.length);
    this.initEvent(type, bubbles, cancelable);
    this.#detail = detail;
  }
}

// WebIDL shape: accessors and methods are enumerable, constants live on both sides, and
// instances report their interface name.
function webidl(C: { prototype: object; name: string }, constants: Record<string, number> = {}): void {
  const proto = C.prototype as Record<string | symbol, unknown>;
  for (const key of Object.getOwnPropertyNames(proto)) {
    if (key === "constructor") continue;
    const d = Object.getOwnPropertyDescriptor(proto, key)!;
    Object.defineProperty(proto, key, { ...d, enumerable: true });
  }
  for (const [k, v] of Object.entries(constants)) {
    const d = { value: v, writable: false, enumerable: true, configurable: false };
    Object.defineProperty(C, k, d);
    Object.defineProperty(proto, k, d);
  }
  Object.defineProperty(proto, Symbol.toStringTag, { value: C.name, configurable: true });
}
webidl(Event, { NONE: 0, CAPTURING_PHASE: 1, AT_TARGET: 2, BUBBLING_PHASE: 3 });
webidl(EventTarget);
webidl(CustomEvent);
