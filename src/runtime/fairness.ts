/**
 * CPU-fair admission: when the CPU is saturated, a service that used more than its fair share of
 * the node's CPU while another service also had work has its new work held in its pool's wait
 * queue (not refused) until the debt is repaid, so a service whose requests burn CPU cannot take
 * the cores from its neighbours. Light services are never held.
 *
 * Every tick (100 ms) each process tallies each service's CPU over the window: the CPU time of its
 * isolates (isolated-vm reports it per isolate). The process's own CPU (gateway, I/O, GC: its CPU
 * time minus every isolate's) serves all services and is bounded per request by the platform, so
 * it is not charged to anyone: it comes off the node's cores, and the rest is what isolates share.
 * The fair share of an active service is an equal part of that. A service over its share and
 * above the mean runs into debt by the excess; under it, the debt is repaid. While the machine is
 * not saturated (idle CPU above 10%) or only one service has work, debts are forgiven at once. A held service's queued work goes in as soon
 * as its debt is repaid, and never later than MAX_HOLD_MS after the hold began. Any fault in the
 * accounting turns fairness off for the life of the process (everything held goes in) rather
 * than stall traffic.
 *
 * The judgement is node-wide: worker processes take connections from one shared socket, and the
 * kernel often gives one worker most of a client's connections, so a worker may see only the
 * noisy service while the victim's requests are all in another. Each process sends its figures
 * (as rates: cores in use) through CpuPeers, the supervisor passes back the sum of the other
 * workers' latest, and each judges on the whole node's. Without peers (one process) its own
 * figures are the node's.
 */
import { availableParallelism, cpus } from "node:os";
import type { AdmissionGate, Pool } from "./pool.ts";

/** How long a service's new work is held at most, however large its debt. */
export const MAX_HOLD_MS = 1000;
/** The machine counts as saturated below this fraction of idle CPU over the window. */
const SATURATED_IDLE = 0.1;

/**
 * Which parts of CPU fairness are on (STRATUS_CPU_FAIRNESS): CPU-fair admission ("admission", the
 * default), isolate threads at a lower OS priority ("priority", thread-priority.ts; off by
 * default, see there why), both ("both"), or neither ("off").
 */
export type FairnessMode = "admission" | "off" | "priority" | "both";

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

/** One process's CPU over its last window, as rates (cores in use). */
export interface CpuReport {
  /** CPU the process spent outside isolates (gateway, I/O, GC). */
  host: number;
  /** Per service: cores its isolates used, and 1 when it had work (started, running or waiting). */
  services: Record<string, [cores: number, active: number]>;
}

/** The other worker processes of the node; the supervisor passes the reports between them. */
export interface CpuPeers {
  /** Sends this process's report; returns the sum of the other processes' latest (null: none yet). */
  exchange(mine: CpuReport): CpuReport | null;
}

/** The sum of reports (the supervisor's answer to one worker: every other worker's). */
export function sumReports(reports: Iterable<CpuReport>): CpuReport {
  const out: CpuReport = { host: 0, services: {} };
  for (const r of reports) {
    out.host += r.host;
    for (const [s, [cores, active]] of Object.entries(r.services)) {
      const o = (out.services[s] ??= [0, 0]);
      o[0] += cores;
      o[1] = Math.max(o[1], active);
    }
  }
  return out;
}

/** Options of CpuFairness. */
export interface FairnessOptions {
  /** The node's cores (default all of this machine's). */
  cores?: number;
  /** The node's other worker processes (default none: this process is the node). */
  peers?: CpuPeers;
  meter?: CpuMeter;
  /** The clock holds are timed on (default Date.now). */
  clock?: () => number;
  /** Called once when a fault turns fairness off. */
  onFault?: (err: unknown) => void;
}

/** The fairness mode from STRATUS_CPU_FAIRNESS ("admission" unless it says otherwise). */
export function fairnessFromEnv(env: NodeJS.ProcessEnv = process.env): FairnessMode {
  const m = env["STRATUS_CPU_FAIRNESS"];
  return m === "off" || m === "priority" || m === "both" ? m : "admission";
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
  #peers: CpuPeers | null;
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
    this.#peers = opts.peers ?? null;
  }

  /** Judges on the whole node's figures from now on (the worker processes' supervisor connects them). */
  set peers(peers: CpuPeers) {
    this.#peers = peers;
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
    // This process's window as rates, then the node's: ours plus the other workers' latest.
    let isolatesHere = 0;
    const mine: CpuReport = { host: 0, services: {} };
    for (const [s, u] of used) {
      isolatesHere += u.isolate;
      mine.services[s] = [u.isolate / windowNs, u.active ? 1 : 0];
    }
    mine.host = Math.max(0, spent - isolatesHere) / windowNs;
    const others = this.#peers?.exchange(mine) ?? null;
    const node = others ? sumReports([mine, others]) : mine;
    let isolates = 0;
    let active = 0;
    for (const [cores, on] of Object.values(node.services)) {
      isolates += cores;
      active += on;
    }
    // The gateway's own work serves every service alike: isolates share what it leaves.
    const avail = Math.max(0, this.#cores - node.host);
    const idleShare = total > last.total ? (idle - last.idle) / (total - last.total) : 1;
    const contended = idleShare < SATURATED_IDLE && active >= 2;
    const now = this.#clock();
    for (const service of used.keys()) {
      let a = this.#accounts.get(service);
      if (!a) this.#accounts.set(service, (a = { debt: 0, heldSince: null }));
      const [use, on] = node.services[service]!;
      if (contended && on) {
        // An equal part of what the gateways leave. Not "all that the others left": under
        // saturation the others' use is what they got, not what they needed (a starved gateway
        // looks light). Spare CPU is not wasted for it: the machine is then not saturated.
        const fair = avail / active;
        // Only a service above the mean runs into debt: the light ones are never held.
        const over = use > fair && use > isolates / active ? use - fair : Math.min(0, use - fair);
        // In core-nanoseconds, bounded by the node's cores over one hold (a hold ends within MAX_HOLD_MS anyway).
        a.debt = Math.min(Math.max(0, a.debt + over * windowNs), this.#cores * MAX_HOLD_MS * 1e6);
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
