/**
 * The instance pool of one service version: up to `scale.max` instances, each serving up to
 * `scale.concurrency` invocations, a bounded wait queue in front (429 past it), `scale.min`
 * instances kept warm. A request that finds no free slot starts an instance at once; the
 * autoscaler (autoscaler.ts), ticked every 100 ms, starts instances ahead of a rising load and
 * releases the ones the load no longer needs; idle ones go after `scale.idleTimeout` (to zero).
 */
import type { ResolvedService } from "../config/index.ts";
import { StratusError, type ErrorCode } from "../errors/index.ts";
import { UNLIMITED, type Capacity } from "./capacity.ts";
import { Autoscaler } from "./autoscaler.ts";
import { Instance, type BlankIsolate, type InstanceHost, type LoadedCode } from "./instance.ts";

const CRASH_LIMIT = 5;
const CRASH_WINDOW_MS = 10_000;
const PAUSE_MIN_MS = 1_000;
const PAUSE_MAX_MS = 30_000;
/** Instances the autoscaler starts ahead of demand per tick (each start takes a few ms of CPU). */
const PREWARM_PER_TICK = 4;
/** An instance above the desired count is released once idle this long (the stable window). */
const SCALE_DOWN_IDLE_MS = 6000;
/** After a refused budget, starts ask before making an instance for this long. */
const REFUSAL_MEMORY_MS = 1000;

/** Where blank isolates come from (a spare kept ready, or a new one). */
export interface BlankSource {
  /** An instance start begins: a ready blank isolate of this size, if there is one. */
  take(memoryMb: number): BlankIsolate | undefined;
  /** The start that take() announced ended (spares are made only while none is in progress). */
  settled(): void;
}

/**
 * Admission of new work (fairness.ts): while it holds a service, the service's new work waits in
 * its pool's queue even when an instance has a free slot, and freed slots are not handed to the
 * queue; admit() lets the waiting work in once the hold ends.
 */
export interface AdmissionGate {
  held(service: string): boolean;
}

/** The gate when admission is not CPU-fair: nothing is held. */
export const OPEN_GATE: AdmissionGate = { held: () => false };

/** Pool events the runtime turns into logs. */
export interface PoolEvents {
  instanceDied(service: string, code: ErrorCode): void;
}

interface Waiter {
  resolve(inst: Instance): void;
  reject(err: unknown): void;
}

/**
 * The refusal of a pool that is being drained (a newer version replaced it, or the service is
 * going away). The runtime sends the request to the pool now live instead; only when there is
 * none does the client see this 503.
 */
export function drainingError(service: string): StratusError {
  return Object.assign(new StratusError("STRATUS_E_SERVICE_UNAVAILABLE", `service "${service}" is shutting down`), { draining: true as const });
}

/** True for the refusal of a draining pool (see drainingError). */
export function isDraining(err: unknown): boolean {
  return (err as { draining?: unknown } | null)?.draining === true;
}

/** A lease on an instance slot; `cold` when the instance was started for this request. */
export interface Lease {
  readonly instance: Instance;
  readonly cold: boolean;
  /** Slots taken on the instance: all of them for work that runs alone (see acquire), else 1. */
  readonly slots?: number;
}

/** The pool for one service version. */
export class Pool {
  readonly service: ResolvedService;
  readonly code: LoadedCode;
  readonly #host: InstanceHost;
  readonly #blanks: BlankSource;
  readonly #events: PoolEvents;
  readonly #instances: Instance[] = [];
  #starting = 0;
  readonly #queue: Waiter[] = [];
  #draining = false;
  #drained: (() => void) | null = null;
  readonly #scaler: Autoscaler;
  /** The autoscaler's last decision, within scale.min and scale.max. */
  desired = 0;
  /** True while a burst holds the pool in panic mode (no scale-down). */
  panic = false;
  /** Admission of new work (fairness.ts); set by the runtime. */
  gate: AdmissionGate = OPEN_GATE;
  /** Invocations started, cold starts (counters for status and logs). */
  invocations = 0;
  coldStarts = 0;

  readonly #clock: () => number;
  readonly #capacity: Capacity;
  /** Instances that hold a unit of the node-wide budget. */
  readonly #counted = new Set<Instance>();
  /** Another worker waits for this service's budget: give back the next instance that goes idle. */
  #reclaim = false;
  #deaths: number[] = [];
  /** When a tick last saw work in flight or queued (on the pool's clock). */
  #lastBusy = -Infinity;
  /** When the node-wide budget last refused this pool an instance (on the pool's clock). */
  #refusedAt = -Infinity;
  #lastDeath: ErrorCode = "STRATUS_E_INTERNAL";
  #pause = 0;
  #pausedUntil = 0;

  constructor(
    service: ResolvedService,
    code: LoadedCode,
    host: InstanceHost,
    blanks: BlankSource,
    events: PoolEvents,
    clock: () => number,
    capacity: Capacity = UNLIMITED,
  ) {
    this.service = service;
    this.code = code;
    this.#host = host;
    this.#blanks = blanks;
    this.#events = events;
    this.#clock = clock;
    this.#capacity = capacity;
    this.#scaler = new Autoscaler({ concurrency: service.scale.concurrency });
    this.desired = service.scale.min;
  }

  /**
   * Loads the code once (so a module that cannot serve fails the deploy, and the old version keeps
   * serving), then keeps `scale.min` instances: with min 0 the pool starts at zero and the first
   * request is a cold start.
   */
  async start(): Promise<void> {
    const first = await this.#create();
    if (this.service.scale.min > 0 && (await this.#capacity.take(this.service.name))) {
      this.#counted.add(first);
      this.#instances.push(first);
    } else first.dispose();
    while (this.#instances.length < this.service.scale.min) {
      const inst = await this.#startInstance();
      if (!inst) break; // the node is at scale.max; more start when budget comes back
      this.#instances.push(inst);
    }
  }

  get size(): number {
    return this.#instances.length;
  }
  get busy(): number {
    return this.#instances.filter((i) => i.leased > 0).length;
  }
  get inFlight(): number {
    return this.#instances.reduce((n, i) => n + i.active, 0);
  }
  get queued(): number {
    return this.#queue.length;
  }
  /** The live instances (fairness.ts reads their CPU time). */
  get instances(): readonly Instance[] {
    return this.#instances;
  }

  async #create(): Promise<Instance> {
    const blank = this.#blanks.take(this.service.limits.memoryMb);
    try {
      const inst = await Instance.create(this.service, this.code, this.#host, (i, code) => this.#died(i, code), blank);
      inst.idleSince = this.#clock();
      return inst;
    } finally {
      this.#blanks.settled();
    }
  }

  /**
   * Starts an instance within the node-wide budget; null when the node is at scale.max. The budget
   * is asked for while the instance is being made (with several workers the answer is a round trip
   * to the supervisor): a refusal costs an instance made for nothing, a grant no wait.
   */
  async #startInstance(): Promise<Instance | null> {
    this.#starting++;
    try {
      const granted = this.#capacity.take(this.service.name);
      // Overlapping the ask with the making pays only for a start from zero (the cold start a user
      // waits on). A pool that has instances, or was refused a moment ago, is likely at the
      // node's limit: there, making an isolate per refused ask burned ~10 ms of CPU per request
      // (scale.concurrency 1 under load fell from 3,400 to 190 req/s), so it asks first.
      if ((this.#instances.length > 0 || this.#clock() - this.#refusedAt < REFUSAL_MEMORY_MS) && !(await granted)) {
        this.#refusedAt = this.#clock();
        return null;
      }
      let inst: Instance;
      try {
        inst = await this.#create();
      } catch (err) {
        if (await granted) this.#capacity.give(this.service.name);
        // An instance stopped by a limit while its module loads (a top level that loops, or one
        // slowed past limits.cpu on a loaded machine) is a death like any other for the crash-loop
        // pause: a module that cannot load would otherwise be rebuilt without end.
        const code = (err as { code?: unknown }).code;
        if (code === "STRATUS_E_CPU_LIMIT" || code === "STRATUS_E_MEMORY_LIMIT" || code === "STRATUS_E_TIMEOUT") this.#noteDeath(code);
        throw err;
      }
      if (!(await granted)) {
        this.#refusedAt = this.#clock();
        inst.dispose();
        return null;
      }
      this.#counted.add(inst);
      return inst;
    } finally {
      this.#starting--;
    }
  }

  /** Disposes an instance and gives its unit of budget back. */
  #retire(inst: Instance): void {
    inst.dispose();
    if (this.#counted.delete(inst)) this.#capacity.give(this.service.name);
  }

  #died(inst: Instance, code: ErrorCode): void {
    const i = this.#instances.indexOf(inst);
    if (i >= 0) this.#instances.splice(i, 1);
    if (this.#counted.delete(inst)) this.#capacity.give(this.service.name);
    this.#noteDeath(code);
    this.#events.instanceDied(this.service.name, code);
    if (this.#instances.length === 0 && this.#clock() < this.#pausedUntil) {
      // Nothing left to serve the waiting requests, and nothing may start: tell them now.
      for (const w of this.#queue.splice(0)) {
        try {
          this.#checkPaused();
        } catch (err) {
          w.reject(err);
        }
      }
    }
    // Waiters were counting on capacity this instance had; start a replacement for them.
    if (this.#queue.length > 0) this.#grow();
  }

  /**
   * Crash-loop protection: after CRASH_LIMIT instances die within CRASH_WINDOW_MS, no new instance
   * is started for a pause that doubles each time (up to PAUSE_MAX_MS) and resets after a quiet
   * CRASH_WINDOW_MS. A service that exhausts memory or loops on every request would otherwise keep
   * the node busy building and killing isolates, at its neighbours' expense.
   */
  #noteDeath(code: ErrorCode): void {
    const now = this.#clock();
    if (now - (this.#deaths.at(-1) ?? now) > CRASH_WINDOW_MS) this.#pause = 0;
    this.#deaths = [...this.#deaths.filter((t) => now - t < CRASH_WINDOW_MS), now];
    this.#lastDeath = code;
    if (this.#deaths.length >= CRASH_LIMIT) {
      this.#pause = Math.min(PAUSE_MAX_MS, this.#pause === 0 ? PAUSE_MIN_MS : this.#pause * 2);
      this.#pausedUntil = now + this.#pause;
      this.#deaths = [];
    }
  }

  /** Throws STRATUS_E_SERVICE_UNAVAILABLE while new instances are paused. */
  #checkPaused(): void {
    const now = this.#clock();
    if (now < this.#pausedUntil) {
      const seconds = Math.ceil((this.#pausedUntil - now) / 1000);
      throw Object.assign(
        new StratusError(
          "STRATUS_E_SERVICE_UNAVAILABLE",
          `service "${this.service.name}" keeps failing (${CRASH_LIMIT} instances stopped for ${this.#lastDeath} within ${CRASH_WINDOW_MS / 1000} s); new instances are paused for ${seconds} s`,
        ),
        { retryAfter: seconds },
      );
    }
  }

  /** True once drain() was called: the pool takes no new work. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * Takes a slot: an instance with room, a new instance, or a place in the queue. A draining pool
   * refuses with drainingError(), also for requests it had queued, so the caller can go to the
   * pool that replaced it.
   */
  acquire(alone = false): Promise<Lease> | Lease {
    if (this.#draining) throw drainingError(this.service.name);
    this.invocations++;
    const c = this.service.scale.concurrency;
    // Over its share of the CPU (fairness.ts): wait, even with a slot free, until the hold ends.
    // Work that must run alone (an event retried on its own) is not held: it would lose its own instance.
    if (!alone && this.gate.held(this.service.name)) return this.#enqueue();
    // Work that runs alone takes every slot of an idle or new instance, so nothing else shares it.
    const slots = alone ? c : 1;
    let best: Instance | undefined;
    for (const inst of this.#instances) {
      if (!inst.dead && inst.leased <= c - slots && (best === undefined || inst.leased < best.leased)) best = inst;
    }
    if (best) {
      best.leased += slots;
      return { instance: best, cold: false, slots };
    }
    // Instances being started will have free slots: wait for one of those rather than start another.
    const comingSlots = this.#starting * (c - 1);
    if (slots === 1 && this.#queue.length < comingSlots && this.#queue.length < this.service.scale.queue) return this.#enqueue();
    if (slots > 1 && this.#instances.length + this.#starting >= this.service.scale.max) {
      // No instance to have alone: share one like any request.
      this.invocations--;
      return this.acquire(false);
    }
    if (this.#instances.length + this.#starting < this.service.scale.max) {
      try {
        this.#checkPaused();
      } catch (err) {
        this.invocations--;
        throw err;
      }
      return this.#startInstance().then(
        (inst) => {
          if (!inst) return this.#enqueue(); // the node is at scale.max: wait like any request past it
          this.coldStarts++;
          this.#instances.push(inst);
          inst.leased += slots;
          this.#handOff(inst);
          return { instance: inst, cold: true, slots };
        },
        (err: unknown) => {
          // Requests that waited for this instance's other slots will not get them.
          if (this.#starting === 0) for (const w of this.#queue.splice(0)) w.reject(err);
          throw err;
        },
      );
    }
    return this.#enqueue();
  }

  /** Waits for a slot (or refuses with 429 past scale.queue). */
  #enqueue(): Promise<Lease> {
    if (this.#draining) {
      // Reached after an instance start that began before the drain came back empty-handed.
      this.invocations--;
      return Promise.reject(drainingError(this.service.name));
    }
    if (this.#queue.length >= this.service.scale.queue) {
      this.invocations--;
      return Promise.reject(
        new StratusError(
          "STRATUS_E_OVERLOADED",
          `service "${this.service.name}" is at scale.max (${this.service.scale.max}) instances with ${this.#queue.length} requests queued (scale.queue); retry later`,
        ),
      );
    }
    return new Promise<Instance>((resolve, reject) => {
      // A request waits at most limits.timeout for a slot.
      const timer = setTimeout(() => {
        const i = this.#queue.indexOf(waiter);
        if (i >= 0) this.#queue.splice(i, 1);
        reject(
          new StratusError(
            "STRATUS_E_TIMEOUT",
            `service "${this.service.name}" had no free instance within ${this.service.limits.timeoutMs} ms (limits.timeout); all ${this.service.scale.max} (scale.max) were busy`,
          ),
        );
      }, this.service.limits.timeoutMs);
      const waiter: Waiter = {
        resolve: (inst) => {
          clearTimeout(timer);
          resolve(inst);
        },
        reject: (err) => {
          clearTimeout(timer);
          reject(err instanceof Error ? err : new Error(String(err)));
        },
      };
      this.#queue.push(waiter);
    }).then((instance) => ({ instance, cold: false }));
  }

  #grow(): void {
    // Held work waits for the hold to end, not for a new instance (admit() grows then).
    if (this.gate.held(this.service.name)) return;
    if (this.#instances.length + this.#starting >= this.service.scale.max || this.#clock() < this.#pausedUntil) return;
    this.#startInstance().then(
      (inst) => {
        if (!inst) return; // at the node's scale.max: retry() runs when budget comes back
        if (this.#draining) {
          // Started ahead of demand while the pool was being drained: nobody will use it.
          this.#retire(inst);
          if (this.#leasedTotal() === 0) this.#finishDrain();
          return;
        }
        this.#instances.push(inst);
        this.#handOff(inst);
      },
      (err: unknown) => {
        for (const w of this.#queue.splice(0)) w.reject(err);
      },
    );
  }

  /** Gives a new instance's free slots to waiting requests (none while the gate holds them). */
  #handOff(inst: Instance): void {
    if (this.gate.held(this.service.name)) return;
    while (this.#queue.length > 0 && !inst.dead && inst.leased < this.service.scale.concurrency) {
      inst.leased++;
      this.#queue.shift()!.resolve(inst);
    }
  }

  /** Gives a lease's slots back: straight to the next waiting requests, if any. */
  release(inst: Instance, slots = 1): void {
    if (slots > 1) {
      inst.leased -= slots - 1;
      this.#handOff(inst);
    }
    if (this.#queue.length > 0 && !inst.dead && !this.gate.held(this.service.name)) {
      this.#queue.shift()!.resolve(inst);
      return;
    }
    if (--inst.leased === 0) {
      inst.idleSince = this.#clock();
      const at = this.#instances.indexOf(inst);
      if (this.#reclaim && !this.#draining && at >= 0 && this.#instances.length > this.service.scale.min) {
        this.#reclaim = false;
        this.#instances.splice(at, 1);
        this.#retire(inst);
      }
    }
    if (this.#draining && this.#leasedTotal() === 0) this.#finishDrain();
  }

  #leasedTotal(): number {
    return this.#instances.reduce((n, i) => n + i.leased, 0);
  }

  /**
   * One autoscaler step (the runtime calls it every 100 ms): samples in-flight + queued work,
   * and starts instances up to the desired count ahead of demand.
   */
  tick(now = this.#clock()): void {
    if (this.#draining) return;
    const { scale } = this.service;
    // At zero with nothing sampled in the stable window, there is nothing to record or decide (and
    // no panic left): a node with 1,000 services at zero ticks 10,000 pools a second otherwise.
    if (scale.min === 0 && this.#instances.length === 0 && this.#starting === 0 && this.#queue.length === 0 && this.#scaler.quiet) {
      this.desired = 0;
      this.panic = false;
      return;
    }
    const load = this.inFlight + this.#queue.length;
    if (load > 0) this.#lastBusy = now;
    this.#scaler.record(now, load);
    const d = this.#scaler.decide(now, this.#instances.length + this.#starting);
    // Idle for idleTimeout, the pool goes down to scale.min (sweep): the stable window may still
    // remember the last request, but it must not start back what the sweep just released.
    const wanted = now - this.#lastBusy >= scale.idleTimeoutMs ? 0 : d.desired;
    this.desired = Math.min(scale.max, Math.max(scale.min, wanted));
    this.panic = d.panic;
    const missing = Math.min(PREWARM_PER_TICK, this.desired - this.#instances.length - this.#starting);
    for (let i = 0; i < missing && now >= this.#pausedUntil; i++) this.#grow();
  }

  /**
   * Releases what the load no longer needs (runs every 100 ms; tests call it after moving the
   * clock): an idle instance above the autoscaler's desired count goes once idle for the stable
   * window (6 s) or idleTimeout, whichever is shorter; the last ones, down to `min`, once idle for
   * idleTimeout. Nothing is released while the pool is in panic. Also retries growth for waiting
   * requests.
   */
  sweep(now = this.#clock()): void {
    // Requests waiting with room to grow (a node-wide refusal earlier, a lost notice): try again.
    if (!this.#draining && this.#queue.length > 0 && this.#starting === 0) this.#grow();
    if (this.panic) return;
    const { min, idleTimeoutMs } = this.service.scale;
    const excessAfter = Math.min(idleTimeoutMs, SCALE_DOWN_IDLE_MS);
    const floor = Math.max(min, this.desired, 1);
    for (let i = this.#instances.length - 1; i >= 0 && this.#instances.length > min; i--) {
      const inst = this.#instances[i]!;
      if (inst.leased > 0) continue;
      const idle = now - inst.idleSince;
      if (idle >= idleTimeoutMs || (this.#instances.length > floor && idle >= excessAfter)) {
        this.#instances.splice(i, 1);
        this.#retire(inst);
      }
    }
  }

  /**
   * Another worker is waiting for this service's node-wide budget: give back an idle instance now,
   * or the next one to go idle (keeping scale.min).
   */
  reclaim(): void {
    const idle = this.#instances.find((i) => i.leased === 0 && this.#counted.has(i));
    if (idle && this.#instances.length > this.service.scale.min) {
      this.#instances.splice(this.#instances.indexOf(idle), 1);
      this.#retire(idle);
    } else this.#reclaim = true; // busy or still starting: the next one to go idle goes
  }

  /** The admission gate let this service's work in again: free slots take what waited, and instances start for the rest. */
  admit(): void {
    if (this.#draining) return;
    for (const inst of this.#instances) this.#handOff(inst);
    if (this.#queue.length > 0 && this.#instances.length === 0 && this.#starting === 0 && this.#clock() < this.#pausedUntil) {
      // Nothing to serve them and nothing may start (a crash-loop pause): they get the 503 they
      // would have had without the hold, not a wait until limits.timeout.
      for (const w of this.#queue.splice(0)) {
        try {
          this.#checkPaused();
        } catch (err) {
          w.reject(err);
        }
      }
    }
    if (this.#queue.length > 0 && this.#starting === 0) this.#grow();
  }

  /** Budget came back on the node: start instances for requests waiting here, and up to scale.min. */
  retry(): void {
    if (this.#draining) return;
    if (this.#queue.length > 0 || this.#instances.length + this.#starting < this.service.scale.min) this.#grow();
  }

  /** Stops taking work; resolves when in-flight invocations finished and every instance is gone. */
  drain(): Promise<void> {
    this.#draining = true;
    if (this.#starting > 0) {
      // Instances still starting are retired as they arrive; wait for them so none outlives the pool.
      return new Promise((r) => {
        const wait = (): void => {
          if (this.#starting > 0) setTimeout(wait, 5);
          else void this.drain().then(r);
        };
        wait();
      });
    }
    for (const w of this.#queue.splice(0)) w.reject(drainingError(this.service.name));
    if (this.#leasedTotal() === 0) {
      this.#finishDrain();
      return Promise.resolve();
    }
    return new Promise((r) => (this.#drained = r));
  }

  #finishDrain(): void {
    for (const inst of this.#instances.splice(0)) this.#retire(inst);
    this.#drained?.();
    this.#drained = null;
  }
}
