/**
 * CPU-fair admission in one process: when the CPU is saturated, a service that used more than its
 * fair share of this process's CPU while another service also had work has its new work held in
 * its pool's wait queue (not refused) until the debt is repaid, so a service whose requests burn
 * CPU cannot take the cores from its neighbours. Light services are never held.
 *
 * Every tick (100 ms) it tallies each service's CPU over the window: the CPU time of its isolates
 * (isolated-vm reports it per isolate). The process's own CPU (gateway, I/O, GC: its CPU time
 * minus every isolate's) serves all services and is bounded per request by the platform, so it is
 * not charged to anyone: it comes off this process's part of the node's cores (see
 * FairnessOptions.cores), and the rest is what isolates share. The fair share of an active
 * service is an equal part of that, or all that the others left, whichever is more. A service over
 * its share and above the mean runs into debt by the excess; under it, the debt is repaid. While
 * the machine is not saturated (idle CPU above 10%) or only one service has work, debts are
 * forgiven at once.
 * A held service's queued work goes in as soon as its debt is repaid, and never later than
 * MAX_HOLD_MS after the hold began. Any fault in the accounting turns fairness off for the life of
 * the process (everything held goes in) rather than stall traffic.
 *
 * It is per worker process: each worker judges the CPU it spends. The gateway of every worker
 * takes connections for every service, so both sides of a noisy pair are usually seen in each;
 * the case it cannot see (a neighbour's load all in one worker, the victim's all in the other) is
 * the one the lower priority of isolate threads covers (thread-priority.ts).
 */
import { availableParallelism, cpus } from "node:os";
import type { AdmissionGate, Pool } from "./pool.ts";

/** How long a service's new work is held at most, however large its debt. */
export const MAX_HOLD_MS = 1000;
/** The machine counts as saturated below this fraction of idle CPU over the window. */
const SATURATED_IDLE = 0.1;

/** Which parts of CPU fairness are on: STRATUS_CPU_FAIRNESS (default "on"; for benchmarks). */
export type FairnessMode = "on" | "off" | "admission" | "priority";

/** The readings fairness works from (tests pass a fake). */
export interface CpuMeter {
  /** A monotonic time in nanoseconds (the length of a window). */
  now(): bigint;
  /** This process's CPU time (every thread), nanoseconds. */
  processCpu(): bigint;
  /** The machine's idle CPU time and total CPU time, summed over cores (any unit). */
  machine(): { idle: number; total: number };
  /** The CPU time of a pool's instances: one reading per live instance, keyed by the instance. */
  isolates(pool: Pool): Iterable<[object, bigint]>;
}

/** This process's real readings. */
export const PROCESS_METER: CpuMeter = {
  now: () => process.hrtime.bigint(),
  processCpu: () => {
    const u = process.cpuUsage();
    return BigInt(u.user + u.system) * 1000n;
  },
  machine: () => {
    let idle = 0;
    let total = 0;
    for (const c of cpus()) {
      idle += c.times.idle;
      total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    }
    return { idle, total };
  },
  *isolates(pool) {
    for (const inst of pool.instances) {
      if (inst.dead) continue;
      let t: bigint;
      try {
        t = inst.isolate.cpuTime;
      } catch {
        continue; // disposed between the look and the read
      }
      yield [inst, t];
    }
  },
};

/** Options of CpuFairness. */
export interface FairnessOptions {
  /** Cores this process may count on: the node's cores divided by its worker processes (default all cores). */
  cores?: number;
  meter?: CpuMeter;
  /** The clock holds are timed on (default Date.now). */
  clock?: () => number;
  /** Called once when a fault turns fairness off. */
  onFault?: (err: unknown) => void;
}

/** Fairness settings from the environment: STRATUS_CPU_FAIRNESS (mode) and STRATUS_CPU_SHARE (cores). */
export function fairnessFromEnv(env: NodeJS.ProcessEnv = process.env): { mode: FairnessMode; cores: number } {
  const m = env["STRATUS_CPU_FAIRNESS"];
  const mode: FairnessMode = m === "off" || m === "admission" || m === "priority" ? m : "on";
  const share = Number(env["STRATUS_CPU_SHARE"]);
  return { mode, cores: Number.isFinite(share) && share > 0 ? share : availableParallelism() };
}

interface Account {
  /** CPU over the fair share not yet repaid (ns). */
  debt: number;
  /** When the current hold began (clock ms), or null when not held. */
  heldSince: number | null;
}

/** The admission gate of every pool in one process (see the module comment). */
export class CpuFairness implements AdmissionGate {
  readonly #cores: number;
  readonly #meter: CpuMeter;
  readonly #clock: () => number;
  readonly #onFault: (err: unknown) => void;
  readonly #accounts = new Map<string, Account>();
  readonly #lastCpu = new WeakMap<object, bigint>();
  readonly #lastInvocations = new WeakMap<Pool, number>();
  #last: { at: bigint; cpu: bigint; idle: number; total: number } | null = null;
  #on = true;

  constructor(opts: FairnessOptions = {}) {
    this.#cores = opts.cores ?? availableParallelism();
    this.#meter = opts.meter ?? PROCESS_METER;
    this.#clock = opts.clock ?? Date.now;
    this.#onFault = opts.onFault ?? (() => undefined);
  }

  /** False once a fault turned it off. */
  get enabled(): boolean {
    return this.#on;
  }

  /** True while `service`'s new work must wait (AdmissionGate). */
  held(service: string): boolean {
    return this.#on && (this.#accounts.get(service)?.heldSince ?? null) !== null;
  }

  /** Services held now (for status and tests). */
  get holding(): string[] {
    return [...this.#accounts].filter(([, a]) => a.heldSince !== null).map(([s]) => s);
  }

  /**
   * Tallies the window since the last tick over `pools` (every pool taking work: live versions
   * and canaries), updates debts, and lets in the work of services whose hold ended.
   */
  tick(pools: Iterable<Pool>): void {
    if (!this.#on) return;
    const list = [...pools];
    try {
      this.#account(list);
    } catch (err) {
      this.#on = false;
      for (const a of this.#accounts.values()) a.heldSince = null;
      for (const p of list) p.admit();
      this.#onFault(err);
    }
  }

  #account(pools: Pool[]): void {
    const m = this.#meter;
    const at = m.now();
    const last = this.#last;
    if (last && at <= last.at) {
      if (at < last.at) throw new Error(`CPU fairness: the meter's time went back by ${last.at - at} ns`);
      return; // no time passed: the window goes on
    }
    const cpu = m.processCpu();
    const { idle, total } = m.machine();
    this.#last = { at, cpu, idle, total };
    // Per service: isolate CPU, and whether it had work in the window (started, running or waiting).
    const used = new Map<string, { isolate: number; active: boolean }>();
    for (const p of pools) {
      const name = p.service.name;
      const u = used.get(name) ?? { isolate: 0, active: false };
      used.set(name, u);
      for (const [key, t] of m.isolates(p)) {
        const before = this.#lastCpu.get(key) ?? 0n;
        this.#lastCpu.set(key, t);
        if (t > before) u.isolate += Number(t - before);
      }
      const calls = p.invocations - (this.#lastInvocations.get(p) ?? 0);
      this.#lastInvocations.set(p, p.invocations);
      u.active ||= calls > 0 || p.inFlight > 0 || p.queued > 0;
    }
    if (!last) return; // the first reading only starts the window
    const windowNs = Number(at - last.at);
    const spent = Number(cpu - last.cpu);
    if (!Number.isFinite(spent) || !Number.isFinite(idle) || !Number.isFinite(total)) throw new Error("CPU fairness: the CPU readings are not numbers");
    let isolates = 0;
    let active = 0;
    for (const u of used.values()) {
      isolates += u.isolate;
      if (u.active) active++;
    }
    // The process's own CPU (gateway, I/O, GC) serves every service alike and is bounded per
    // request by the platform: it comes off the budget, and isolates share the rest.
    const avail = Math.max(0, windowNs * this.#cores - Math.max(0, spent - isolates));
    const idleShare = total > last.total ? (idle - last.idle) / (total - last.total) : 1;
    const contended = idleShare < SATURATED_IDLE && active >= 2;
    const now = this.#clock();
    for (const [service, u] of used) {
      let a = this.#accounts.get(service);
      if (!a) this.#accounts.set(service, (a = { debt: 0, heldSince: null }));
      if (contended && u.active) {
        // An equal part of what is left, or all that the others left, whichever is more.
        const fair = Math.max(avail / active, avail - (isolates - u.isolate));
        // Only a service above the mean runs into debt: the light ones are never held.
        const over = u.isolate > fair && u.isolate > isolates / active ? u.isolate - fair : Math.min(0, u.isolate - fair);
        // Bounded by the process's whole part of the cores over one hold: a hold ends within MAX_HOLD_MS anyway.
        a.debt = Math.min(Math.max(0, a.debt + over), this.#cores * MAX_HOLD_MS * 1e6);
      } else a.debt = 0;
      const hold = a.debt > 0 && contended && (a.heldSince === null || now - a.heldSince < MAX_HOLD_MS);
      if (hold) a.heldSince ??= now;
      else if (a.heldSince !== null) {
        // Repaid, or held as long as a hold may last: what waited goes in now.
        a.heldSince = null;
        a.debt = 0;
        for (const p of pools) if (p.service.name === service) p.admit();
      }
    }
    for (const s of this.#accounts.keys()) if (!used.has(s)) this.#accounts.delete(s);
  }
}
