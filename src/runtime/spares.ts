/**
 * Blank isolates kept ready so a cold start only loads code. Making one blocks this thread for a
 * few ms (V8 deserialises the prelude snapshot in the isolate's constructor), so spares are made
 * off the request's path: never while an instance is starting, and only once the process has had
 * a short quiet moment after the last start (the cold request's own response goes out first).
 */
import type { BlankIsolate } from "./instance.ts";

/** Options of Spares. */
export interface SparesOptions {
  /** Spares to keep (0: none; every cold start makes its own isolate). */
  target: number;
  /** The memory size (MB) spares are made with; a start of another size makes its own. */
  memoryMb: number;
  /** Makes a blank isolate (makeBlankIsolate). */
  make: (memoryMb: number) => Promise<BlankIsolate>;
  /** Waits `ms`, then runs `fn` (default: an unref'd setTimeout; tests pass their own). */
  schedule?: (fn: () => void, ms: number) => void;
  /** Quiet time after the last instance start before a spare is made (default 20 ms). */
  quietMs?: number;
}

/** The spare blank isolates of one runtime. */
export class Spares {
  readonly #o: SparesOptions;
  readonly #ready: BlankIsolate[] = [];
  /** Instance starts in progress (take() until settled()). */
  #starting = 0;
  /** A spare is being made, or the next one is scheduled. */
  #busy = false;
  /** Bumped at every start: a scheduled refill that sees another value waits again. */
  #epoch = 0;
  #closed = false;

  constructor(opts: SparesOptions) {
    this.#o = opts;
    this.#refill(0);
  }

  /** Spares ready now. */
  get size(): number {
    return this.#ready.length;
  }

  /**
   * An instance start begins: a spare of `memoryMb`, if one is ready. Every take() must be
   * followed by one settled() when the start ends (with or without a spare, failed or not).
   */
  take(memoryMb: number): BlankIsolate | undefined {
    this.#starting++;
    this.#epoch++;
    return memoryMb === this.#o.memoryMb ? this.#ready.pop() : undefined;
  }

  /** An instance start ended: spares are made again once no start is in progress for a moment. */
  settled(): void {
    this.#starting = Math.max(0, this.#starting - 1);
    this.#refill(this.#o.quietMs ?? 20);
  }

  #refill(delay: number): void {
    if (this.#busy || this.#closed || this.#starting > 0 || this.#ready.length >= this.#o.target) return;
    this.#busy = true;
    const epoch = this.#epoch;
    const schedule = this.#o.schedule ?? ((fn: () => void, ms: number) => void setTimeout(fn, ms).unref());
    schedule(() => {
      this.#busy = false;
      // A start began meanwhile: wait for it (its settled() schedules the refill again).
      if (this.#closed || this.#starting > 0) return;
      if (epoch !== this.#epoch) return this.#refill(this.#o.quietMs ?? 20);
      if (this.#ready.length >= this.#o.target) return;
      this.#busy = true;
      this.#o.make(this.#o.memoryMb).then(
        (b) => {
          this.#busy = false;
          if (this.#closed) b.isolate.dispose();
          else {
            this.#ready.push(b);
            // One at a time, each in a turn of its own: a request arriving meanwhile goes first.
            this.#refill(0);
          }
        },
        () => {
          // Could not make one (the process is short of memory?): the next start makes its own.
          this.#busy = false;
        },
      );
    }, delay);
  }

  /** Disposes every spare; none is made afterwards. */
  close(): void {
    this.#closed = true;
    for (const s of this.#ready.splice(0)) s.isolate.dispose();
  }
}
