/**
 * Cron: runs each schedule's scheduled() handler at its due times (croner reads the expression and
 * the time zone). One process of the node holds the cron lease and runs every schedule; each due
 * time is claimed in the store before it runs, so a run starts once even if the lease moves.
 * A run missed while the node was down is run once on start (several missed runs become one);
 * a run due while the previous one of the same schedule is still going is skipped.
 */
import { Cron } from "croner";
import type { ResolvedSchedule } from "../config/index.ts";
import type { Logger } from "../telemetry/index.ts";
import type { DeliveryOutcome } from "./delivery.ts";
import type { EventStore } from "./interface.ts";

/** Runs one cron run. */
export type RunScheduled = (schedule: ResolvedSchedule, scheduledTime: number) => Promise<DeliveryOutcome>;

/** Counters of one schedule in this process. */
export interface ScheduleFigures {
  runs: number;
  failures: number;
  skipped: number;
}

interface Entry {
  schedule: ResolvedSchedule;
  cron: Cron;
  /** The next due time, once known. */
  next: number | null;
  running: boolean;
  figures: ScheduleFigures;
}

/** The latest due time of `cron` in (after, now], or null. */
function latestDue(cron: Cron, after: number, now: number): number | null {
  let due: number | null = null;
  let at = after;
  for (let i = 0; i < 1_000_000; i++) {
    const n = cron.nextRun(new Date(at));
    if (!n || n.getTime() > now) break;
    due = n.getTime();
    at = due;
  }
  return due;
}

/** The node's cron. */
export class CronScheduler {
  readonly #store: EventStore;
  readonly #owner: string;
  readonly #clock: () => number;
  readonly #run: RunScheduled;
  readonly #log: Logger;
  #entries = new Map<string, Entry>();
  #leased = false;
  #ticking = false;
  readonly #runs = new Set<Promise<void>>();

  constructor(store: EventStore, owner: string, clock: () => number, run: RunScheduled, log: Logger) {
    this.#store = store;
    this.#owner = owner;
    this.#clock = clock;
    this.#run = run;
    this.#log = log;
  }

  /** Replaces the schedules (a changed expression starts from now). */
  configure(schedules: readonly ResolvedSchedule[]): void {
    const next = new Map<string, Entry>();
    for (const s of schedules) {
      const old = this.#entries.get(s.id);
      if (old && old.schedule.cron === s.cron && old.schedule.timezone === s.timezone) {
        old.schedule = s;
        next.set(s.id, old);
        continue;
      }
      const cron = new Cron(s.cron, { paused: true, ...(s.timezone ? { timezone: s.timezone } : {}) });
      next.set(s.id, { schedule: s, cron, next: null, running: false, figures: old?.figures ?? { runs: 0, failures: 0, skipped: 0 } });
    }
    this.#entries = next;
  }

  /** True while this process runs the node's cron. */
  get leased(): boolean {
    return this.#leased;
  }

  /** Figures per schedule id. */
  figures(): Map<string, ScheduleFigures & { next: number | null; running: boolean }> {
    return new Map([...this.#entries].map(([id, e]) => [id, { ...e.figures, next: e.next, running: e.running }]));
  }

  /** Takes or renews the cron lease. */
  async renew(leaseMs: number): Promise<void> {
    const now = this.#clock();
    const got = await this.#store.leaseCron(this.#owner, now, now + leaseMs);
    if (got && !this.#leased) for (const e of this.#entries.values()) e.next = null;
    this.#leased = got;
  }

  /** Starts every run that is due (when this process holds the lease). */
  async tick(): Promise<void> {
    if (!this.#leased || this.#ticking) return;
    this.#ticking = true;
    try {
      await this.#tick();
    } finally {
      this.#ticking = false;
    }
  }

  async #tick(): Promise<void> {
    const now = this.#clock();
    for (const e of this.#entries.values()) {
      if (e.next === null) {
        const last = await this.#store.lastRun(e.schedule.id);
        if (last === null) {
          // First sight of this schedule: runs start from now, nothing is "missed".
          await this.#store.claimRun(e.schedule.id, now);
          e.next = e.cron.nextRun(new Date(now))?.getTime() ?? Number.POSITIVE_INFINITY;
          continue;
        }
        const missed = latestDue(e.cron, last, now);
        e.next = missed ?? e.cron.nextRun(new Date(last))?.getTime() ?? Number.POSITIVE_INFINITY;
      }
      if (e.next > now) continue;
      const due = latestDue(e.cron, e.next - 1, now) ?? e.next;
      e.next = e.cron.nextRun(new Date(due))?.getTime() ?? Number.POSITIVE_INFINITY;
      if (!(await this.#store.claimRun(e.schedule.id, due))) continue;
      if (e.running) {
        e.figures.skipped++;
        this.#log.warn(
          { service: e.schedule.service, schedule: e.schedule.id, cron: e.schedule.cron, due: new Date(due).toISOString() },
          "cron run skipped: the previous run of this schedule is still going",
        );
        continue;
      }
      e.running = true;
      const p = this.#start(e, due).finally(() => {
        e.running = false;
        this.#runs.delete(p);
      });
      this.#runs.add(p);
    }
  }

  async #start(e: Entry, due: number): Promise<void> {
    const start = performance.now();
    const out = await this.#run(e.schedule, due);
    const durationMs = Math.round((performance.now() - start) * 100) / 100;
    const fields = { service: e.schedule.service, schedule: e.schedule.id, cron: e.schedule.cron, scheduledTime: new Date(due).toISOString(), durationMs };
    if (out.ok) {
      e.figures.runs++;
      this.#log.info(fields, "cron run");
    } else {
      e.figures.failures++;
      this.#log.error({ ...fields, code: out.code, error: out.message }, "cron run failed; the next run comes at its time");
    }
  }

  /** Resolves when every run started so far has finished. */
  async settle(): Promise<void> {
    while (this.#runs.size > 0) await Promise.all([...this.#runs]);
  }
}
