/**
 * The event bus of one process: publishes into the store, runs the subscriptions and the cron
 * whose leases this process holds, accepts CloudEvents from outside and async invocations, and
 * answers the operator's questions (dead letters, redrive, replay, tail).
 *
 * Every process of a node opens the same store; leases decide which one delivers a subscription.
 * Delivery runs on timers and promises, never on the HTTP request path.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { ResolvedSchedule, ResolvedStack, ResolvedSubscription } from "../config/index.ts";
import { StratusError } from "../errors/index.ts";
import type { Logger } from "../telemetry/index.ts";
import { MAX_EVENT_BYTES, fromHttp, keyOf, makeEvent, serialise, tooLarge } from "./cloudevents.ts";
import { SubscriptionRunner, type DeliveryFigures, type DeliveryOutcome } from "./delivery.ts";
import type { CloudEvent, DeadLetter, EventStore, InvocationRecord, StoredEvent } from "./interface.ts";
import { CronScheduler } from "./scheduler.ts";

/** An HTTP request as the bus hands it to a function (async invocation). */
export interface BusRequest {
  method: string;
  url: string;
  headers: string[];
  body: Uint8Array | null;
  requestId: string;
}

/** What the bus needs from the runtime: run handlers. */
export interface BusTarget {
  /** Runs the event() handler of `service` for serialised CloudEvents; one outcome each. */
  deliver(service: string, events: readonly string[], depth: number): Promise<(DeliveryOutcome & { deferred?: boolean })[]>;
  /** Runs the scheduled() handler of `service`. */
  scheduled(service: string, cron: string, scheduledTime: number): Promise<DeliveryOutcome & { deferred?: boolean }>;
  /** Runs the fetch() handler of `service` (through its route) for an async invocation. */
  invoke(service: string, req: BusRequest): Promise<{ status: number; headers: string[]; body: Uint8Array; error: { code: string; message: string } | null }>;
}

/** Options of EventBus. */
export interface EventBusOptions {
  store: EventStore;
  target: BusTarget;
  logger: Logger;
  /** The clock of backoff, leases, replay by time and cron (tests move it by hand; default Date.now). */
  clock?: () => number;
  /** This process's name in leases (default host:pid:random). */
  owner?: string;
  /** How often the store is polled for events published by other processes, in ms (default 10). */
  pollMs?: number;
  /** Lease length in ms; renewed every third of it (default 6000). */
  leaseMs?: number;
  /**
   * A passive bus delivers nothing and takes no lease: it publishes and answers the operator
   * (the dev supervisor's control API uses one beside the worker processes that deliver).
   */
  passive?: boolean;
}

/** A subscription as `stratus events` shows it. */
export interface SubscriptionInfo {
  name: string;
  service: string;
  topic: string;
  cursor: number;
  /** Events of the topic past the cursor (not yet delivered). */
  lag: number;
  retries: number;
  dead: number;
  /** The process delivering it, if any. */
  owner: string | null;
  figures: DeliveryFigures | null;
}

/** The result of one publish. */
export interface Published {
  id: string;
  topic: string;
  seq: number;
  duplicate: boolean;
}

const INVOKE_TOPIC = "_invoke.";

/**
 * Async invocations of one service accepted but not finished (queued or running) at most; past it
 * the gateway answers 429 STRATUS_E_OVERLOADED with Retry-After.
 */
export const MAX_PENDING_INVOCATIONS = 1000;
/** How long a finished (completed or failed) async invocation and its result are kept. */
export const INVOCATION_RETENTION_MS = 24 * 60 * 60 * 1000;
/** The largest answer `tail` builds, in bytes of event bodies (it returns fewer events past it). */
export const MAX_TAIL_BYTES = 4 * 1024 * 1024;
/** Lag is counted up to this many events (status shows "10000+" style figures past it). */
const LAG_CAP = 10_001;
/**
 * Sources Stratus itself publishes as; an event from outside may not claim one, so a subscriber
 * can trust that `/services/orders` is the orders service.
 */
/**
 * The longest chain of event handlings a publish may extend: a publish made while handling an
 * event of depth MAX_EVENT_DEPTH is refused (STRATUS_E_PUBLISH_DENIED), so a handler that publishes
 * to its own topic stops instead of filling the store.
 */
export const MAX_EVENT_DEPTH = 8;
/** The CloudEvents extension attribute that carries an event's depth (absent means 0). */
export const DEPTH_ATTRIBUTE = "stratusdepth";

/**
 * The depth of a stored event: read from its attributes, which Stratus serialises before `data`
 * (no body is parsed; a match inside a string value is impossible, its quotes are escaped).
 */
export function depthOf(body: string): number {
  const end = body.search(/"data(_base64)?":/);
  const m = /"stratusdepth":(\d{1,6})[,}]/.exec(end < 0 ? body : body.slice(0, end));
  return m ? Number(m[1]) : 0;
}

const RESERVED_SOURCE = /^\/(services|gateway|cli|stratus)(\/|$)/;

function toBase64(b: Uint8Array | null): string | null {
  return b ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("base64") : null;
}

/** The bus. */
export class EventBus {
  readonly #store: EventStore;
  readonly #target: BusTarget;
  readonly #log: Logger;
  readonly #clock: () => number;
  readonly owner: string;
  readonly #pollMs: number;
  readonly #leaseMs: number;
  readonly #runners = new Map<string, SubscriptionRunner>();
  readonly #cron: CronScheduler;
  #topics = new Map<string, { ingest: boolean; retentionMs: number }>();
  #services = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #lastHead = -1;
  #lastRenew = 0;
  #lastPrune = 0;
  #renewing = false;
  #polling = false;
  #closed = false;
  readonly #passive: boolean;

  constructor(opts: EventBusOptions) {
    this.#store = opts.store;
    this.#target = opts.target;
    this.#log = opts.logger;
    this.#clock = opts.clock ?? Date.now;
    this.owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.#pollMs = opts.pollMs ?? 10;
    this.#leaseMs = opts.leaseMs ?? 6000;
    this.#passive = opts.passive ?? false;
    this.#cron = new CronScheduler(this.#store, this.owner, this.#clock, (s, t) => this.#runScheduled(s, t), this.#log);
  }

  /** The store (read-only use by tools). */
  get store(): EventStore {
    return this.#store;
  }

  /** Applies a stack's topics, subscriptions and schedules; starts the delivery loop. */
  async configure(stack: ResolvedStack): Promise<void> {
    this.#topics = new Map(stack.topics.map((t) => [t.name, { ingest: t.ingest, retentionMs: t.retentionMs }]));
    this.#services = new Set(stack.services.map((s) => s.name));
    const specs: ResolvedSubscription[] = [];
    const schedules: ResolvedSchedule[] = [];
    for (const svc of stack.services) {
      specs.push(...svc.subscriptions);
      schedules.push(...svc.schedules);
      if (svc.routes.length > 0) {
        specs.push({
          name: `${svc.name}:_invoke`,
          service: svc.name,
          topic: `${INVOKE_TOPIC}${svc.name}`,
          maxAttempts: svc.asyncMaxAttempts,
          backoff: { initialMs: 1000, maxMs: 60_000 },
          deadLetter: true,
          ordering: "none",
          maxConcurrency: 16,
          startAt: "earliest",
        });
      }
    }
    const keep = new Set(specs.map((s) => s.name));
    for (const [name, r] of this.#runners) {
      if (!keep.has(name)) {
        this.#runners.delete(name);
        await r.release();
      }
    }
    for (const spec of specs) {
      await this.#store.ensureSubscription(spec.name, spec.topic, spec.startAt);
      const r = this.#runners.get(spec.name);
      if (r) r.spec = spec;
      else {
        const deliver = spec.topic.startsWith(INVOKE_TOPIC)
          ? (s: ResolvedSubscription, events: readonly StoredEvent[]) => this.#invokeAll(s, events)
          : (s: ResolvedSubscription, events: readonly StoredEvent[]) => this.#deliver(s, events);
        this.#runners.set(spec.name, new SubscriptionRunner(this.#store, spec, this.owner, this.#clock, deliver, this.#log));
      }
    }
    this.#cron.configure(schedules);
    if (this.#passive) return;
    await this.#renew();
    this.#timer ??= setInterval(() => this.#tick(), this.#pollMs).unref();
    this.#kick();
  }

  async #deliver(s: ResolvedSubscription, events: readonly StoredEvent[]): Promise<DeliveryOutcome[]> {
    // One crossing per depth: the publishes of a batch's handlers carry the batch's depth, so an
    // event must not share one with a deeper event (the handlers of a batch run concurrently
    // anyway, so splitting it changes no order).
    const groups = new Map<number, number[]>();
    events.forEach((e, i) => {
      const d = depthOf(e.body);
      const g = groups.get(d);
      if (g) g.push(i);
      else groups.set(d, [i]);
    });
    const out = new Array<DeliveryOutcome>(events.length);
    await Promise.all(
      [...groups].map(async ([depth, idx]) => {
        const outs = await this.#target.deliver(
          s.service,
          idx.map((i) => events[i]!.body),
          depth,
        );
        idx.forEach((i, k) => (out[i] = outs[k]!));
      }),
    );
    return out;
  }

  async #runScheduled(s: ResolvedSchedule, time: number): Promise<DeliveryOutcome> {
    return this.#target.scheduled(s.service, s.cron, time);
  }

  /** Async invocations: one fetch() per stored invocation, its result written back. */
  async #invokeAll(s: ResolvedSubscription, events: readonly StoredEvent[]): Promise<DeliveryOutcome[]> {
    return Promise.all(
      events.map(async (e): Promise<DeliveryOutcome> => {
        const id = (JSON.parse(e.body) as { data: { id: string } }).data.id;
        const inv = await this.#store.invocation(id);
        if (!inv) return { ok: false, permanent: true, code: "STRATUS_E_INVOCATION_UNKNOWN", message: `invocation ${id} is gone` };
        if (inv.state === "completed" || inv.state === "failed") return { ok: true };
        const attempts = inv.attempts + 1;
        await this.#store.updateInvocation(id, { state: "running", attempts, updated: this.#clock() });
        const r = await this.#target.invoke(s.service, {
          method: inv.request.method,
          url: inv.request.url,
          headers: inv.request.headers,
          body: inv.request.body === null ? null : Buffer.from(inv.request.body, "base64"),
          requestId: id,
        });
        const result = { status: r.status, headers: r.headers, body: toBase64(r.body) ?? "" };
        if (r.status < 500 && !r.error) {
          await this.#store.updateInvocation(id, { state: "completed", result, error: null, updated: this.#clock() });
          return { ok: true };
        }
        const full = r.error ? `${r.error.code}: ${r.error.message}` : `the function answered ${r.status}`;
        // The first line only, as the gateway answers a synchronous call: stacks go to the log,
        // not to whoever holds the invocation id (anyone: the status endpoint is unauthenticated).
        const error = full.split("\n")[0]!;
        if (error !== full) this.#log.warn({ service: s.service, invocation: id, err: full }, "async invocation failed");
        const final = attempts >= s.maxAttempts;
        await this.#store.updateInvocation(id, { state: final ? "failed" : "queued", result, error, updated: this.#clock() });
        return { ok: false, code: r.error?.code ?? "STRATUS_E_HANDLER_THREW", message: error };
      }),
    );
  }

  #tick(): void {
    if (this.#closed) return;
    const now = this.#clock();
    if (now - this.#lastRenew >= this.#leaseMs / 3 || now < this.#lastRenew) void this.#renew();
    // One look at the store's head at a time: a slow (networked) store skips ticks rather than
    // piling up reads.
    if (!this.#polling) {
      this.#polling = true;
      this.#store.head().then(
        (head) => {
          this.#polling = false;
          const moved = head !== this.#lastHead;
          this.#lastHead = head;
          this.#pumpDue(moved, this.#clock());
        },
        (err: unknown) => {
          this.#polling = false;
          this.#log.error({ err: String(err) }, "reading the event store's head failed");
        },
      );
    }
    void this.#cron.tick();
    if (now - this.#lastPrune > 60_000 && this.#cron.leased) {
      this.#lastPrune = now;
      const retention = new Map([...this.#topics].map(([t, o]) => [t, o.retentionMs]));
      void this.#store.prune(now, retention).catch((err: unknown) => this.#log.error({ err: String(err) }, "pruning old events failed"));
      void this.#store
        .pruneInvocations(now - INVOCATION_RETENTION_MS)
        .catch((err: unknown) => this.#log.error({ err: String(err) }, "pruning finished async invocations failed"));
    }
  }

  /** Wakes the subscriptions this process delivers that have new events (`moved`) or work due at `now`. */
  #pumpDue(moved: boolean, now: number): void {
    if (this.#closed) return;
    for (const r of this.#runners.values()) {
      if (!r.leased) continue;
      const due = r.nextDue();
      if (moved || (due !== null && due <= now)) void r.pump();
    }
  }

  async #renew(): Promise<void> {
    if (this.#renewing || this.#closed || this.#passive) return;
    this.#renewing = true;
    this.#lastRenew = this.#clock();
    try {
      // Every subscription's holder is read once per renewal, for all the runners refused their
      // lease (each read them all: on a worker that holds none, 1,000 services were a million rows
      // every 2 s, hundreds of MB of garbage).
      let holders: Promise<Map<string, string | null>> | null = null;
      const holderOf = async (name: string): Promise<string | null> =>
        (await (holders ??= this.#store.subscriptions().then((all) => new Map(all.map((x) => [x.name, x.owner]))))).get(name) ?? null;
      await Promise.all([...this.#runners.values()].map((r) => r.renew(this.#leaseMs, holderOf)));
      await this.#cron.renew(this.#leaseMs);
    } catch (err) {
      this.#log.error({ err: String(err) }, "renewing event leases failed");
    } finally {
      this.#renewing = false;
    }
  }

  /** Wakes every subscription this process delivers (after a local publish). */
  #kick(): void {
    for (const r of this.#runners.values()) if (r.leased) void r.pump();
  }

  #checkTopic(topic: string): void {
    if (!this.#topics.has(topic)) {
      const known = [...this.#topics.keys()];
      throw new StratusError(
        "STRATUS_E_TOPIC_UNKNOWN",
        `no topic "${topic}" in this stack; ${known.length ? `topics: ${known.map((t) => `"${t}"`).join(", ")}` : "declare one under topics: in stratus.yaml"}`,
      );
    }
  }

  /** Publishes `data` to `topic` as `source` ("/services/orders", "/cli"); resolves once durable. */
  async publish(
    source: string,
    topic: string,
    data: unknown,
    opts: { key?: string | undefined; id?: string | undefined; subject?: string | undefined } = {},
  ): Promise<Published> {
    this.#checkTopic(topic);
    const ev = makeEvent(topic, source, data, opts, this.#clock());
    return this.#append(ev, opts.id !== undefined);
  }

  /** Publishes for a function: `data` is JSON text already (or null). */
  async publishFromService(
    service: string,
    topic: string,
    data: string | null,
    opts: { key: string | null; id: string | null; subject: string | null; depth?: number },
  ): Promise<Published> {
    this.#checkTopic(topic);
    const depth = opts.depth ?? 0;
    if (depth > MAX_EVENT_DEPTH) {
      throw new StratusError(
        "STRATUS_E_PUBLISH_DENIED",
        `publish loop: service "${service}" publishes to "${topic}" while handling an event ${depth - 1} handlings deep (the limit is ${MAX_EVENT_DEPTH}); check for a handler that publishes to a topic that leads back to it`,
      );
    }
    const ev = makeEvent(
      topic,
      `/services/${service}`,
      undefined,
      { id: opts.id ?? undefined, key: opts.key ?? undefined, subject: opts.subject ?? undefined },
      this.#clock(),
    );
    if (depth > 0) ev[DEPTH_ATTRIBUTE] = depth;
    // Sizes first: a function's data can be many MiB, and parsing it here would run on the
    // gateway's thread, uncharged to the function.
    if (data !== null && data.length > MAX_EVENT_BYTES) tooLarge(topic, Buffer.byteLength(data));
    let body = serialise(ev);
    if (data !== null) body = `${body.slice(0, -1)},"data":${data}}`;
    if (body.length > 65536) serialise(JSON.parse(body) as CloudEvent);
    const [r] = await this.#store.append([{ topic, id: ev.id, source: ev.source, key: keyOf(ev), time: this.#clock(), body, dedupe: opts.id !== null }]);
    this.#kick();
    return { id: ev.id, topic, seq: r!.seq, duplicate: r!.duplicate };
  }

  async #append(ev: CloudEvent, dedupe: boolean): Promise<Published> {
    const [r] = await this.#store.append([{ topic: ev.type, id: ev.id, source: ev.source, key: keyOf(ev), time: this.#clock(), body: serialise(ev), dedupe }]);
    this.#kick();
    return { id: ev.id, topic: ev.type, seq: r!.seq, duplicate: r!.duplicate };
  }

  /** Accepts CloudEvents POSTed from outside; only to topics with ingest: true. All or nothing. */
  async ingest(headers: readonly string[], body: Uint8Array | null): Promise<Published[]> {
    const events = fromHttp(headers, body, this.#clock());
    for (const ev of events) {
      const t = this.#topics.get(ev.type);
      if (!t) this.#checkTopic(ev.type);
      if (!t!.ingest) {
        throw new StratusError(
          "STRATUS_E_PUBLISH_DENIED",
          `topic "${ev.type}" does not accept events from outside; set topics.${ev.type}.ingest: true in stratus.yaml`,
        );
      }
      if (RESERVED_SOURCE.test(ev.source)) {
        throw new StratusError(
          "STRATUS_E_PUBLISH_DENIED",
          `source ${JSON.stringify(ev.source)} is reserved for events Stratus publishes (/services/..., /gateway, /cli, /stratus); send your own source, e.g. "/carrier"`,
        );
      }
    }
    // The depth is Stratus's own count: an outside event starts a chain.
    for (const ev of events) delete ev[DEPTH_ATTRIBUTE];
    const rows = events.map((ev) => ({ topic: ev.type, id: ev.id, source: ev.source, key: keyOf(ev), time: this.#clock(), body: serialise(ev) }));
    const results = await this.#store.append(rows);
    this.#kick();
    return results.map((r, i) => ({ id: events[i]!.id, topic: events[i]!.type, seq: r.seq, duplicate: r.duplicate }));
  }

  /** Accepts an async invocation of `service`; resolves with its id once it is durable. */
  async invokeAsync(service: string, req: BusRequest): Promise<InvocationRecord> {
    const id = randomUUID();
    const now = this.#clock();
    const record: InvocationRecord = {
      id,
      service,
      state: "queued",
      attempts: 0,
      created: now,
      updated: now,
      request: { method: req.method, url: req.url, headers: req.headers.filter((_, i, h) => !/^prefer$/i.test(h[i - (i % 2)]!)), body: toBase64(req.body) },
      result: null,
      error: null,
    };
    // Every accepted invocation is a durable write: bound what one service may have waiting.
    await this.#store.createInvocation(record, MAX_PENDING_INVOCATIONS);
    const ev = makeEvent(`${INVOKE_TOPIC}${service}`, `/gateway`, { id }, { id }, now);
    await this.#store.append([{ topic: ev.type, id, key: null, time: now, body: serialise(ev), dedupe: false }]);
    this.#kick();
    return record;
  }

  /** An async invocation by id. */
  async invocation(id: string): Promise<InvocationRecord> {
    const inv = await this.#store.invocation(id);
    if (!inv) throw new StratusError("STRATUS_E_INVOCATION_UNKNOWN", `no async invocation "${id}"; use the id from the 202 response's Location header`);
    return inv;
  }

  #subscription(name: string): void {
    if (!this.#runners.has(name)) {
      throw new StratusError(
        "STRATUS_E_SUBSCRIPTION_UNKNOWN",
        `no subscription "${name}"; subscriptions are named service:topic: ${[...this.#runners.keys()].map((n) => `"${n}"`).join(", ") || "(none)"}`,
      );
    }
  }

  /** Every subscription with its cursor, lag, retries and dead letters. */
  async subscriptions(): Promise<SubscriptionInfo[]> {
    const backlog = await this.#store.backlog();
    const head = await this.#store.head();
    const out: SubscriptionInfo[] = [];
    for (const s of await this.#store.subscriptions()) {
      const r = this.#runners.get(s.name);
      if (!r) continue;
      const b = backlog.get(s.name);
      // Counted on seq alone: the bodies of a backlog can be gigabytes.
      const pending = s.cursor >= head ? 0 : await this.#store.countAfter(s.topic, s.cursor, LAG_CAP);
      out.push({
        name: s.name,
        service: r.spec.service,
        topic: s.topic,
        cursor: s.cursor,
        lag: pending,
        retries: b?.retries ?? 0,
        dead: b?.dead ?? 0,
        owner: s.leaseUntil > this.#clock() ? s.owner : null,
        figures: r.leased ? { ...r.figures } : null,
      });
    }
    return out;
  }

  /** Dead letters of a subscription. */
  async deadLetters(subscription: string, after = 0, limit = 100): Promise<DeadLetter[]> {
    this.#subscription(subscription);
    return this.#store.deadLetters(subscription, after, limit);
  }

  /** Sends dead letters (all, or the given seqs) back for delivery; returns how many. */
  async redrive(subscription: string, seqs?: readonly number[]): Promise<number> {
    this.#subscription(subscription);
    const n = await this.#store.redrive(subscription, this.#clock(), seqs);
    // The owner (here or in another process) finds them within one lease renewal.
    await this.#renew();
    this.#kick();
    return n;
  }

  /** Replays a subscription from an offset (seq: the first event delivered again) or a time (epoch ms). */
  async replay(subscription: string, from: { seq: number } | { time: number }): Promise<{ cursor: number }> {
    this.#subscription(subscription);
    const topic = this.#runners.get(subscription)!.spec.topic;
    const cursor = "seq" in from ? Math.max(0, from.seq - 1) : await this.#store.cursorAtTime(topic, from.time);
    const s = await this.#store.reset(subscription, cursor);
    await this.#renew();
    this.#kick();
    return { cursor: s.cursor };
  }

  /** Events of `topic` after `after` (seq), parsed. */
  async tail(topic: string, after: number, limit = 100): Promise<{ seq: number; event: CloudEvent }[]> {
    this.#checkTopic(topic);
    const rows = await this.#store.readBounded(topic, after, limit, MAX_TAIL_BYTES);
    return rows.map((r) => ({ seq: r.seq, event: JSON.parse(r.body) as CloudEvent }));
  }

  /** Cron figures per schedule. */
  schedules(): ReturnType<CronScheduler["figures"]> {
    return this.#cron.figures();
  }

  /**
   * Delivers until nothing is due at the clock's current time and every write has landed (tests:
   * move the clock, then `await bus.drain()`).
   */
  async drain(maxRounds = 10_000): Promise<void> {
    for (let i = 0; i < maxRounds; i++) {
      await this.#renew();
      await this.#cron.tick();
      await this.#cron.settle();
      await Promise.all([...this.#runners.values()].map((r) => r.pump()));
      await new Promise((r) => setImmediate(r));
      const now = this.#clock();
      if ([...this.#runners.values()].every((r) => !r.leased || r.idle(now))) return;
      await new Promise((r) => setTimeout(r, 1));
    }
    throw new StratusError("STRATUS_E_INTERNAL", "the event bus did not settle");
  }

  /** Stops delivering and gives the leases up (events in flight are delivered again by the next owner). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await Promise.all([...this.#runners.values()].map((r) => r.release().catch(() => undefined)));
    await this.#cron.settle();
  }
}

/**
 * A bus that only publishes and answers the operator, on the store the worker processes deliver
 * from (the supervisor of `stratus dev` and of a node holds one beside its workers).
 */
export function passiveEventBus(store: EventStore, logger: Logger): EventBus {
  const none = (): Promise<never> => Promise.reject(new Error("a passive event bus runs no handlers"));
  return new EventBus({ store, logger, passive: true, target: { deliver: none, scheduled: none, invoke: none } });
}
