// Sandbox code: performance.now() and performance.timeOrigin. The prelude runs once when the V8
// snapshot is built, so the time origin is set again when an instance starts (startClock), not
// captured at load time, where it would be frozen into every isolate made from the snapshot.

let origin = Date.now();

/** Starts this global's clock: performance.timeOrigin is now, performance.now() counts from here. */
export function startClock(): void {
  origin = Date.now();
}

/** Milliseconds since the time origin. */
export function now(): number {
  return Date.now() - origin;
}

/** The isolate's `performance` object (High Resolution Time, coarsened to milliseconds). */
export const performance = {
  now,
  get timeOrigin(): number {
    return origin;
  },
  toJSON(): { timeOrigin: number } {
    return { timeOrigin: origin };
  },
};
