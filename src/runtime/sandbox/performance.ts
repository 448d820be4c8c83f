// Sandbox code: performance.now() and performance.timeOrigin (High Resolution Time). The prelude
// runs once when the V8 snapshot is built, so the time origin is set again when an instance starts
// (startClock, called from __stratus.init), never captured at load time, where it would be frozen
// into every isolate made from the snapshot.
import { EventTarget } from "./events.ts";

let origin = Date.now();

/** Starts this global's clock: performance.timeOrigin is now, performance.now() counts from here. */
export function startClock(): void {
  origin = Date.now();
}

/** Milliseconds since the time origin. */
export function now(): number {
  return Date.now() - origin;
}

const CREATE = Symbol("create");

/** The HR-Time Performance interface (millisecond resolution: the isolate has no finer clock). */
export class Performance extends EventTarget {
  constructor(token?: symbol) {
    if (token !== CREATE) throw new TypeError("Illegal constructor: use the global performance");
    super();
  }
  now(): number {
    if (!(this instanceof Performance)) throw new TypeError("Performance.now called on an object that is not a Performance");
    return now();
  }
  get timeOrigin(): number {
    if (!(this instanceof Performance)) throw new TypeError("not a Performance");
    return origin;
  }
  toJSON(): { timeOrigin: number } {
    return { timeOrigin: origin };
  }
}
for (const key of ["now", "timeOrigin", "toJSON"]) {
  Object.defineProperty(Performance.prototype, key, { ...Object.getOwnPropertyDescriptor(Performance.prototype, key)!, enumerable: true });
}
Object.defineProperty(Performance.prototype, Symbol.toStringTag, { value: "Performance", configurable: true });

/** The isolate's `performance`. */
export const performance = new Performance(CREATE);
