/**
 * Bounds what one instance may log: each console line is cut to a maximum length (with a marker
 * saying so), and a token bucket per instance bounds lines and characters per second. Lines past
 * the budget are dropped and counted; the count is reported in a note once logging may resume.
 */

/** Console limits of one instance. */
export interface ConsoleLimits {
  /** Longest line kept, in characters; the rest is cut (default 17,408: the sandbox cuts at 16,384, leaving room for its marker). */
  readonly maxLineChars: number;
  /** Lines per second an instance may log, sustained (default 2,000). */
  readonly linesPerSecond: number;
  /** Characters per second an instance may log, sustained (default 2 MiB worth). */
  readonly charsPerSecond: number;
  /** How many seconds of budget may be spent at once (default 2). */
  readonly burstSeconds: number;
}

/** The defaults (docs/runtime.md lists them). The sandbox's console applies half these rates first. */
export const CONSOLE_LIMITS: ConsoleLimits = Object.freeze({
  maxLineChars: 17 * 1024,
  linesPerSecond: 2000,
  charsPerSecond: 2 * 1024 * 1024,
  burstSeconds: 2,
});

/** `text` cut to `max` characters, with a marker saying how much was cut. */
export function truncateLine(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${text.slice(0, max)}… [line truncated: ${text.length - max} more characters; console lines are cut at ${max}]`;
}

/** The per-instance budget: admit() says whether a line may be logged and what to log. */
export class ConsoleLimiter {
  readonly #limits: ConsoleLimits;
  readonly #clock: () => number;
  #lines: number;
  #chars: number;
  #at: number;
  #dropped = 0;

  /** `clock` is in milliseconds (performance.now by default; tests pass their own). */
  constructor(limits: ConsoleLimits = CONSOLE_LIMITS, clock: () => number = () => performance.now()) {
    this.#limits = limits;
    this.#clock = clock;
    this.#lines = limits.linesPerSecond * limits.burstSeconds;
    this.#chars = limits.charsPerSecond * limits.burstSeconds;
    this.#at = clock();
  }

  #refill(): void {
    const now = this.#clock();
    const s = Math.max(0, now - this.#at) / 1000;
    this.#at = now;
    const l = this.#limits;
    this.#lines = Math.min(l.linesPerSecond * l.burstSeconds, this.#lines + s * l.linesPerSecond);
    this.#chars = Math.min(l.charsPerSecond * l.burstSeconds, this.#chars + s * l.charsPerSecond);
  }

  /**
   * The line to log for `text` (cut to the maximum length), or null when the budget is spent (the
   * line is counted as dropped). After a line is admitted, flush() has the note on earlier drops.
   */
  admit(text: string): string | null {
    const line = truncateLine(text, this.#limits.maxLineChars);
    this.#refill();
    if (this.#lines < 1 || this.#chars < line.length) {
      this.#dropped++;
      return null;
    }
    this.#lines -= 1;
    this.#chars -= line.length;
    return line;
  }

  /** A note on the lines dropped since the last note, or null when none were (clears the count). */
  flush(): string | null {
    if (this.#dropped === 0) return null;
    const n = this.#dropped;
    this.#dropped = 0;
    const l = this.#limits;
    return `${n} console line${n === 1 ? "" : "s"} dropped: this instance logged more than ${l.linesPerSecond} lines or ${l.charsPerSecond} characters per second`;
  }

  /** Lines dropped and not yet reported. */
  get dropped(): number {
    return this.#dropped;
  }
}
