/**
 * Delivery of one subscription, in the process that holds its lease: reads the topic past the
 * cursor, hands events to the handler in batches (one sandbox crossing for many events), retries
 * failures with exponential backoff and jitter, dead-letters what used up its attempts, keeps
 * per-key order when asked, and moves the durable cursor past everything settled.
 *
 * At-least-once: the cursor only moves past an event once it was handled, written to the retry
 * table, or dead-lettered; after a crash every event past the cursor is delivered again.
 */
import diagnostics from "node:diagnostics_channel";
import { hostname } from "node:os";
import type { ResolvedSubscription } from "../config/index.ts";
import type { Logger } from "../telemetry/index.ts";
import type { EventStore, StoredEvent, SubscriptionState } from "./interface.ts";

/** Published on `stratus:delivery` after every batch a subscription settles (metrics and benchmarks subscribe). */
export interface DeliveryEvent {
  /** The bus (owner name) that delivered it. */
  owner: string;
  subscription: string;
  service: string;
  /** Offsets handled successfully. */
  delivered: number[];
  failed: number;
  retried: number;
  dead: number;
}

const deliveryChannel = diagnostics.channel("stratus:delivery");

/** The outcome of handling one event. */
export interface DeliveryOutcome {
  ok: boolean;
  code?: string;
  message?: string;
  /** The handler asked for no retry (PermanentError). */
  permanent?: boolean;
  /** The whole batch failed together (the instance died or timed out): no verdict on this event alone. */
  batch?: boolean;
  /** The handler was not run (no running version, the service's queue is full): try again later, not counted as an attempt. */
  deferred?: boolean;
}

/** Runs handlers for a batch of events; one outcome per event, in order. */
export type Deliver = (sub: ResolvedSubscription, events: readonly StoredEvent[]) => Promise<DeliveryOutcome[]>;

/** Counters of one subscription in this process. */
export interface DeliveryFigures {
  delivered: number;
  failed: number;
  retried: number;
  dead: number;
}

interface Item {
  event: StoredEvent;
  attempts: number;
  fromRetry: boolean;
  /** Deliver alone (its batch failed as a whole once). */
  solo: boolean;
  epoch: number;
}

const WINDOW = 4096;
const READ = 512;
const BATCH = 64;
/** How long work that could not start waits before it is offered again. */
const DEFER_MS = 250;

/** Backoff before attempt `attempts + 1`: initial * 2^(attempts-1), capped, with jitter in [half, all]. */
export function backoffMs(sub: ResolvedSubscription, attempts: number, random = Math.random): number {
  const base = Math.min(sub.backoff.maxMs, sub.backoff.initialMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base / 2 + (random() * base) / 2);
}

/** The delivery loop of one subscription. */
export class SubscriptionRunner {
  spec: ResolvedSubscription;
  readonly figures: DeliveryFigures = { delivered: 0, failed: 0, retried: 0, dead: 0 };
  readonly #store: EventStore;
  readonly #owner: string;
  readonly #clock: () => number;
  readonly #deliver: Deliver;
  readonly #log: Logger;
  #state: SubscriptionState | null = null;
  #epoch = 0;
  #readCursor = 0;
  #committed = 0;
  /** Log events in read order; #head is the first not known to be settled. */
  #order: number[] = [];
  #head = 0;
  readonly #settled = new Set<number>();
  readonly #retrying = new Set<number>();
  #ready: Item[] = [];
  readonly #keys = new Map<string, Item[]>();
  #delayed: { item: Item; at: number }[] = [];
  #active = 0;
  #nextDue: number | null = null;
  #pumping = false;
  #again = false;
  #writes = 0;

  constructor(store: EventStore, spec: ResolvedSubscription, owner: string, clock: () => number, deliver: Deliver, log: Logger) {
    this.#store = store;
    this.spec = spec;
    this.#owner = owner;
    this.#clock = clock;
    this.#deliver = deliver;
    this.#log = log;
  }

  /** True while this process holds the lease. */
  get leased(): boolean {
    return this.#state !== null;
  }

  /** Events handed to the handler and not answered yet. */
  get active(): number {
    return this.#active;
  }

  /** True when nothing is in flight, ready, or due now. */
  idle(now: number): boolean {
    return (
      this.#active === 0 &&
      this.#ready.length === 0 &&
      this.#writes === 0 &&
      (this.#nextDue === null || this.#nextDue > now) &&
      !this.#delayed.some((d) => d.at <= now)
    );
  }

  /** When something waits for a time (a retry, a delayed ordered event), the earliest; else null. */
  nextDue(): number | null {
    let at = this.#nextDue;
    for (const d of this.#delayed) if (at === null || d.at < at) at = d.at;
    return at;
  }

  /**
   * Takes or renews the lease; reloads when the subscription was reset (replay) elsewhere.
   * `holderOf` names a subscription's lease holder (the bus reads them once for all its runners).
   */
  async renew(leaseMs: number, holderOf?: (name: string) => Promise<string | null>): Promise<void> {
    const now = this.#clock();
    let s = await this.#store.lease(this.spec.name, this.#owner, now, now + leaseMs);
    if (!s) {
      // A holder that is a dead process on this machine (killed, crashed) need not be waited out.
      const holder = holderOf ? await holderOf(this.spec.name) : ((await this.#store.subscriptions()).find((x) => x.name === this.spec.name)?.owner ?? null);
      if (holder && deadLocalOwner(holder)) {
        this.#log.info({ subscription: this.spec.name, previous: holder }, "taking over a subscription from a process that is gone");
        s = await this.#store.lease(this.spec.name, this.#owner, Number.MAX_SAFE_INTEGER, now + leaseMs);
      }
    }
    if (!s) {
      if (this.#state) this.#log.warn({ subscription: this.spec.name }, "lost the lease of a subscription; another process delivers it now");
      this.#drop();
      return;
    }
    const fresh = !this.#state || this.#state.generation !== s.generation;
    if (fresh) this.#load(s);
    else this.#state = s;
    this.#nextDue = await this.#store.nextRetryAt(this.spec.name);
    if (fresh) void this.pump();
  }

  /** Gives the lease up (shutdown). */
  async release(): Promise<void> {
    if (!this.#state) return;
    this.#drop();
    await this.#store.unlease(this.spec.name, this.#owner);
  }

  /** Forgets in-memory work (answers from the old epoch are ignored) and starts from `s`. */
  #load(s: SubscriptionState): void {
    this.#drop();
    this.#state = s;
    this.#readCursor = s.cursor;
    this.#committed = s.cursor;
  }

  #drop(): void {
    this.#state = null;
    this.#epoch++;
    this.#order = [];
    this.#head = 0;
    this.#settled.clear();
    this.#retrying.clear();
    this.#ready = [];
    this.#keys.clear();
    this.#delayed = [];
  }

  /** Reads, dispatches and commits until there is nothing more to do right now. */
  async pump(): Promise<void> {
    if (this.#pumping) {
      this.#again = true;
      return;
    }
    this.#pumping = true;
    try {
      do {
        this.#again = false;
        await this.#pumpOnce();
      } while (this.#again);
    } finally {
      this.#pumping = false;
    }
  }

  async #pumpOnce(): Promise<void> {
    if (!this.#state) return;
    const epoch = this.#epoch;
    const now = this.#clock();
    const room = WINDOW - (this.#order.length - this.#head);
    if (room > 0) {
      const want = Math.min(room, READ);
      const rows = await this.#store.read(this.spec.topic, this.#readCursor, want);
      if (epoch !== this.#epoch) return;
      for (const event of rows) {
        this.#order.push(event.seq);
        this.#enqueue({ event, attempts: 0, fromRetry: false, solo: false, epoch });
      }
      if (rows.length > 0) this.#readCursor = rows[rows.length - 1]!.seq;
      if (rows.length === want) this.#again = true;
    }
    if (this.#nextDue !== null && this.#nextDue <= now && this.#retrying.size < WINDOW) {
      const rows = await this.#store.dueRetries(this.spec.name, now, READ, this.#retrying);
      if (epoch !== this.#epoch) return;
      for (const r of rows) {
        this.#retrying.add(r.event.seq);
        this.#enqueue({ event: r.event, attempts: r.attempts, fromRetry: true, solo: r.lastError.startsWith("[batch]"), epoch });
      }
      this.#nextDue = rows.length === READ ? now : await this.#store.nextRetryAt(this.spec.name);
      // Rows in flight stay in the table until handled; look again when they are done.
      if (this.#nextDue !== null && this.#nextDue <= now && this.#retrying.size > 0) this.#nextDue = now + 1000;
    }
    if (this.#delayed.length > 0) {
      const due = this.#delayed.filter((d) => d.at <= now);
      if (due.length > 0) {
        this.#delayed = this.#delayed.filter((d) => d.at > now);
        for (const d of due) this.#ready.push(d.item);
      }
    }
    this.#dispatch();
    this.#commit();
  }

  #enqueue(item: Item): void {
    const key = item.event.key;
    if (this.spec.ordering === "key" && key !== null) {
      const waiting = this.#keys.get(key);
      if (waiting) {
        waiting.push(item);
        return;
      }
      this.#keys.set(key, []);
    }
    this.#ready.push(item);
  }

  #dispatch(): void {
    const limit = this.spec.maxConcurrency;
    while (this.#ready.length > 0 && this.#active < limit) {
      const first = this.#ready[0]!;
      let batch: Item[];
      if (first.solo) batch = this.#ready.splice(0, 1);
      else {
        const n = Math.min(this.#ready.length, limit - this.#active, BATCH);
        let end = 0;
        while (end < n && !this.#ready[end]!.solo) end++;
        batch = this.#ready.splice(0, end);
      }
      this.#active += batch.length;
      this.#deliver(
        this.spec,
        batch.map((i) => i.event),
      ).then(
        (results) => this.#settle(batch, results),
        (err: unknown) =>
          this.#settle(
            batch,
            batch.map(() => ({ ok: false, code: "STRATUS_E_INTERNAL", message: String(err), batch: batch.length > 1 })),
          ),
      );
    }
  }

  #settle(batch: Item[], results: readonly DeliveryOutcome[]): void {
    this.#active -= batch.length;
    if (batch[0]!.epoch !== this.#epoch) return;
    const now = this.#clock();
    const sub = this.spec;
    const before = { ...this.figures };
    const delivered: number[] = [];
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const r = results[i] ?? { ok: false, code: "STRATUS_E_INTERNAL", message: "no outcome for this event" };
      const seq = item.event.seq;
      if (r.ok) {
        this.figures.delivered++;
        delivered.push(seq);
        if (item.fromRetry) this.#track(this.#store.dropRetry(sub.name, seq), seq);
        this.#finish(item);
        continue;
      }
      if (r.deferred) {
        this.#delayed.push({ item, at: now + DEFER_MS });
        continue;
      }
      this.figures.failed++;
      if (r.batch && batch.length > 1) {
        // The instance died under the whole batch: no verdict on this event; try it alone, now.
        item.solo = true;
        this.#ready.push(item);
        continue;
      }
      const attempts = item.attempts + 1;
      const error = `${r.batch ? "[batch] " : ""}${r.code ?? "STRATUS_E_HANDLER_THREW"}: ${r.message ?? "failed"}`;
      if (r.permanent || attempts >= sub.maxAttempts) {
        const why = r.permanent ? "failed permanently" : `failed ${attempts} times`;
        if (sub.deadLetter) {
          this.figures.dead++;
          this.#log.warn(
            { subscription: sub.name, service: sub.service, seq, id: idOf(item.event), attempts, error },
            `event ${why}; moved to the dead-letter store`,
          );
          this.#track(this.#store.deadLetter(sub.name, seq, attempts, error, now), item.fromRetry ? seq : null);
        } else {
          this.#log.warn(
            { subscription: sub.name, service: sub.service, seq, id: idOf(item.event), attempts, error },
            `event ${why}; dropped (deadLetter: false)`,
          );
          if (item.fromRetry) this.#track(this.#store.dropRetry(sub.name, seq), seq);
        }
        this.#finish(item);
        continue;
      }
      this.figures.retried++;
      const at = now + backoffMs(sub, attempts);
      if (sub.ordering === "key" && item.event.key !== null) {
        // Later events of this key wait behind it, so it waits here rather than in the retry table.
        item.attempts = attempts;
        item.solo = item.solo || Boolean(r.batch);
        this.#delayed.push({ item, at });
        continue;
      }
      this.#track(this.#store.scheduleRetry(sub.name, seq, attempts, at, error), item.fromRetry ? seq : null);
      if (this.#nextDue === null || at < this.#nextDue) this.#nextDue = at;
      if (!item.fromRetry) this.#finish(item);
    }
    if (deliveryChannel.hasSubscribers) {
      deliveryChannel.publish({
        owner: this.#owner,
        subscription: sub.name,
        service: sub.service,
        delivered,
        failed: this.figures.failed - before.failed,
        retried: this.figures.retried - before.retried,
        dead: this.figures.dead - before.dead,
      } satisfies DeliveryEvent);
    }
    this.#commit();
    void this.pump();
  }

  /** Counts a write; a retry-table row stays "in flight" until the write that settles it lands. */
  #track(write: Promise<void>, retrySeq: number | null): void {
    this.#writes++;
    const epoch = this.#epoch;
    write.then(
      () => {
        this.#writes--;
        if (retrySeq !== null && epoch === this.#epoch) this.#retrying.delete(retrySeq);
      },
      (err: unknown) => {
        this.#writes--;
        this.#log.error({ subscription: this.spec.name, err: String(err) }, "event store write failed; the events will be delivered again");
      },
    );
  }

  /** The event is settled: let the next one of its key go, and let the cursor pass it. */
  #finish(item: Item): void {
    if (!item.fromRetry) this.#settled.add(item.event.seq);
    const key = item.event.key;
    if (this.spec.ordering === "key" && key !== null) {
      const waiting = this.#keys.get(key);
      const next = waiting?.shift();
      if (next) this.#ready.push(next);
      else this.#keys.delete(key);
    }
  }

  #commit(): void {
    const s = this.#state;
    if (!s) return;
    while (this.#head < this.#order.length && this.#settled.has(this.#order[this.#head]!)) {
      this.#settled.delete(this.#order[this.#head]!);
      this.#head++;
    }
    if (this.#head > 1024) {
      this.#order = this.#order.slice(this.#head);
      this.#head = 0;
    }
    const target = this.#head < this.#order.length ? this.#order[this.#head]! - 1 : this.#readCursor;
    if (target <= this.#committed) return;
    this.#committed = target;
    const epoch = this.#epoch;
    this.#writes++;
    this.#store.commit(s.name, this.#owner, s.generation, target).then(
      (ok) => {
        this.#writes--;
        if (!ok && epoch === this.#epoch) {
          this.#log.warn({ subscription: s.name }, "the subscription was reset or taken over; reloading");
          this.#drop();
        }
      },
      (err: unknown) => {
        this.#writes--;
        this.#log.error({ subscription: s.name, err: String(err) }, "could not move the subscription cursor; events past it will be delivered again");
      },
    );
  }
}

/** True when `owner` ("host:pid:tag") names a process on this host that no longer runs. */
export function deadLocalOwner(owner: string): boolean {
  const [host, pidText] = owner.split(":");
  const pid = Number(pidText);
  if (host !== hostname() || !Number.isInteger(pid) || pid <= 0 || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

function idOf(e: StoredEvent): string {
  const m = /"id":"((?:[^"\\]|\\.)*)"/.exec(e.body);
  return m ? m[1]! : "";
}
