/**
 * The autoscaler of one pool, after Knative's KPA: it samples the pool's concurrency (in-flight
 * plus queued invocations) every tick and keeps two sliding windows over the samples. The stable
 * window (6 s) decides the instance count in steady state; the short panic window (0.6 s) reacts
 * to a burst: when it asks for at least twice the instances there are, the pool panics, scales to
 * the panic figure at once and does not scale down until a whole stable window passes without
 * another burst. Desired instances = ceil(average concurrency / (concurrency per instance × 0.7)),
 * the 0.7 leaving headroom so a rising load finds an instance warm.
 */

/** Options of Autoscaler (all durations in ms). */
export interface AutoscalerOptions {
  /** In-flight invocations one instance takes (scale.concurrency). */
  concurrency: number;
  /** Fraction of `concurrency` to aim for (default 0.7, as Knative). */
  targetUtilization?: number;
  /** Window that sizes the pool in steady state (default 6000). */
  stableWindowMs?: number;
  /** Window that detects a burst (default 600). */
  panicWindowMs?: number;
  /** Panic when the panic window wants this many times the current instances (default 2). */
  panicThreshold?: number;
}

/** What the autoscaler decided at one tick. */
export interface ScaleDecision {
  /** Instances wanted now (before scale.min / scale.max are applied). */
  desired: number;
  panic: boolean;
  /** Average concurrency over the stable window. */
  stableConcurrency: number;
  /** Average concurrency over the panic window. */
  panicConcurrency: number;
}

/** Sliding-window concurrency averages and the desired instance count. */
export class Autoscaler {
  readonly #target: number;
  readonly #stableMs: number;
  readonly #panicMs: number;
  readonly #threshold: number;
  /** Samples (time, concurrency), oldest first, covering at most the stable window. */
  #times: number[] = [];
  #values: number[] = [];
  #panicUntil = 0;
  #panicDesired = 0;

  constructor(opts: AutoscalerOptions) {
    this.#target = Math.max(1e-9, opts.concurrency * (opts.targetUtilization ?? 0.7));
    this.#stableMs = opts.stableWindowMs ?? 6000;
    this.#panicMs = opts.panicWindowMs ?? 600;
    this.#threshold = opts.panicThreshold ?? 2;
  }

  /** True when no sample in the stable window saw any work (the pool may go to zero). */
  get quiet(): boolean {
    return this.#values.every((v) => v === 0);
  }

  /** Records the concurrency seen at `now`. */
  record(now: number, concurrency: number): void {
    // A clock that went backwards (tests, NTP) restarts the windows.
    if (this.#times.length > 0 && now < this.#times[this.#times.length - 1]!) {
      this.#times = [];
      this.#values = [];
    }
    this.#times.push(now);
    this.#values.push(concurrency);
    let drop = 0;
    while (drop < this.#times.length && now - this.#times[drop]! > this.#stableMs) drop++;
    if (drop > 0) {
      this.#times.splice(0, drop);
      this.#values.splice(0, drop);
    }
  }

  #average(now: number, windowMs: number): number {
    let sum = 0;
    let n = 0;
    for (let i = this.#times.length - 1; i >= 0 && now - this.#times[i]! <= windowMs; i--) {
      sum += this.#values[i]!;
      n++;
    }
    return n === 0 ? 0 : sum / n;
  }

  /** The decision at `now`, given the instances the pool has (ready or starting). */
  decide(now: number, current: number): ScaleDecision {
    const stableConcurrency = this.#average(now, this.#stableMs);
    const panicConcurrency = this.#average(now, this.#panicMs);
    const stable = Math.max(0, Math.ceil(stableConcurrency / this.#target - 1e-9));
    const burst = Math.max(0, Math.ceil(panicConcurrency / this.#target - 1e-9));
    if (burst >= this.#threshold * Math.max(1, current) && burst > current) {
      this.#panicUntil = now + this.#stableMs;
      this.#panicDesired = Math.max(this.#panicDesired, burst);
    }
    if (now < this.#panicUntil) {
      // In panic: follow bursts up, never down.
      this.#panicDesired = Math.max(this.#panicDesired, burst, current);
      return { desired: this.#panicDesired, panic: true, stableConcurrency, panicConcurrency };
    }
    this.#panicDesired = 0;
    return { desired: stable, panic: false, stableConcurrency, panicConcurrency };
  }
}
