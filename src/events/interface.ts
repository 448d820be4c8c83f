/**
 * The event store interface: the one durable log behind topics, subscriptions, dead letters, async
 * invocations and cron bookkeeping. SqliteEventStore is the embedded implementation; a JetStream
 * implementation for clusters implements the same interface. The delivery engine (bus.ts,
 * delivery.ts, scheduler.ts) reaches a store only through this interface, and every backend runs
 * the conformance suite in conformance.ts (eventStoreSuite).
 *
 * Guarantees every implementation gives (the delivery engine relies on each of them):
 * - **Durable on acknowledgement.** When a promise returned by a write method resolves, the write
 *   survives the process being killed (SIGKILL) at any later moment. A write whose promise has not
 *   resolved may or may not have happened.
 * - **Writes apply in call order.** Two writes issued one after the other by the same caller are
 *   applied in that order (a retry row written before a cursor move is never lost while the move
 *   survives).
 * - **A total order per store.** `seq` grows strictly with every appended event, across topics,
 *   for the life of the store (pruning never lets a seq be given out again); `read(topic, after)`
 *   returns a topic's events in `seq` order with no gaps that later fill in.
 * - **Idempotent append.** Appending an event whose (topic, id) is already retained stores nothing
 *   and reports the original `seq` with `duplicate: true` (for appends with `dedupe` not false).
 * - **Leases are exclusive while valid.** At most one owner holds a subscription's (or the cron
 *   table's) lease until `leaseUntil`; an owner that stops renewing loses it when it expires.
 */

/** A CloudEvents 1.0 event in its JSON form (structured content mode). */
export interface CloudEvent {
  specversion: "1.0";
  id: string;
  source: string;
  type: string;
  time?: string;
  subject?: string;
  datacontenttype?: string;
  dataschema?: string;
  data?: unknown;
  data_base64?: string;
  /** Extension attributes (lowercase letters and digits). Stratus sets `partitionkey` from the publish key. */
  [extension: string]: unknown;
}

/** One event to append. */
export interface AppendInput {
  readonly topic: string;
  /**
   * The CloudEvent's id: deduplicated per (topic, source) while retained, unless `dedupe` is false
   * (CloudEvents identity is source + id, so one source cannot pre-empt another's ids).
   */
  readonly id: string;
  /** The CloudEvent's source, the other half of its identity (default ""). */
  readonly source?: string;
  /**
   * False when the id was made by Stratus (a new UUID) and so cannot repeat: the store skips the
   * duplicate check and its index for it. Default true.
   */
  readonly dedupe?: boolean;
  /** The ordering key, if any. */
  readonly key: string | null;
  /** Epoch milliseconds the event was accepted (replay by time uses it). */
  readonly time: number;
  /** The serialised CloudEvent (JSON). */
  readonly body: string;
}

/** What append() did with one event. */
export interface AppendResult {
  readonly seq: number;
  /** True when an event with this (topic, id) was already stored; nothing new was written. */
  readonly duplicate: boolean;
}

/** An event as stored. */
export interface StoredEvent {
  readonly seq: number;
  readonly topic: string;
  readonly key: string | null;
  readonly time: number;
  readonly body: string;
}

/** The durable state of one subscription. */
export interface SubscriptionState {
  readonly name: string;
  readonly topic: string;
  /** Every event of the topic with seq <= cursor is handled, waiting for a retry, or dead-lettered. */
  readonly cursor: number;
  /** Bumped by every reset (replay); an owner whose generation is stale must reload. */
  readonly generation: number;
  readonly owner: string | null;
  readonly leaseUntil: number;
}

/** An event waiting for another attempt. */
export interface RetryEntry {
  readonly event: StoredEvent;
  /** Attempts so far. */
  readonly attempts: number;
  readonly visibleAt: number;
  readonly lastError: string;
}

/** An event that used up its attempts (or failed permanently). */
export interface DeadLetter {
  readonly subscription: string;
  readonly event: StoredEvent;
  readonly attempts: number;
  readonly error: string;
  /** Epoch ms it was dead-lettered. */
  readonly at: number;
}

/** The state of an async invocation. */
export type InvocationState = "queued" | "running" | "completed" | "failed";

/** An async invocation as stored. */
export interface InvocationRecord {
  readonly id: string;
  readonly service: string;
  readonly state: InvocationState;
  readonly attempts: number;
  readonly created: number;
  readonly updated: number;
  /** The request as accepted: method, url, headers, body (base64). */
  readonly request: { method: string; url: string; headers: string[]; body: string | null };
  /** The function's response once finished: status, headers, body (base64); or the error. */
  readonly result: { status: number; headers: string[]; body: string } | null;
  readonly error: string | null;
}

/** The store. Methods that write return once the write is durable (see the guarantees above). */
export interface EventStore {
  /** Appends events (deduplicated by topic + source + id), in order. */
  append(events: readonly AppendInput[]): Promise<AppendResult[]>;
  /** Up to `limit` events of `topic` with seq > `after`, in seq order. */
  read(topic: string, after: number, limit: number): Promise<StoredEvent[]>;
  /**
   * Like read(), but stops before the event that would take the bodies past `maxBytes` (always
   * returns at least one event when there is one): answers to operators stay bounded.
   */
  readBounded(topic: string, after: number, limit: number, maxBytes: number): Promise<StoredEvent[]>;
  /** How many events of `topic` have seq > `after`, counting no further than `cap` (bodies are not read). */
  countAfter(topic: string, after: number, cap: number): Promise<number>;
  /** The highest seq ever appended (0 when empty). */
  head(): Promise<number>;
  /** The cursor that replays `topic` from the first event at or after `time` (epoch ms). */
  cursorAtTime(topic: string, time: number): Promise<number>;

  /** Creates the subscription if new (cursor at `startAt`), returns its state. */
  ensureSubscription(name: string, topic: string, startAt: "latest" | "earliest"): Promise<SubscriptionState>;
  /** Every subscription the store knows (including ones no longer in a stack). */
  subscriptions(): Promise<SubscriptionState[]>;
  /** Takes or renews the lease of `name` for `owner` until `until`; null when another owner holds it. */
  lease(name: string, owner: string, now: number, until: number): Promise<SubscriptionState | null>;
  /** Gives the lease up. */
  unlease(name: string, owner: string): Promise<void>;
  /** Moves the cursor forward, if `owner` still holds the lease at `generation`; false otherwise. */
  commit(name: string, owner: string, generation: number, cursor: number): Promise<boolean>;
  /** Puts the cursor at `cursor` (replay) and bumps the generation; pending retries are dropped. */
  reset(name: string, cursor: number): Promise<SubscriptionState>;

  /** Records that `event` waits for attempt `attempts + 1` at `visibleAt`. */
  scheduleRetry(subscription: string, seq: number, attempts: number, visibleAt: number, error: string): Promise<void>;
  /** Retries of `subscription` due at `now`, oldest first, leaving out `skip` (in flight). */
  dueRetries(subscription: string, now: number, limit: number, skip: ReadonlySet<number>): Promise<RetryEntry[]>;
  /** The earliest visibleAt among `subscription`'s retries, or null. */
  nextRetryAt(subscription: string): Promise<number | null>;
  /** Removes a retry (the event was handled). */
  dropRetry(subscription: string, seq: number): Promise<void>;
  /** Dead-letters the event (and removes its retry, if any). */
  deadLetter(subscription: string, seq: number, attempts: number, error: string, at: number): Promise<void>;
  /** Dead letters of `subscription`, oldest first, with seq > `after`. */
  deadLetters(subscription: string, after: number, limit: number): Promise<DeadLetter[]>;
  /** Moves dead letters (all, or those in `seqs`) back to be delivered at `now`; returns how many. */
  redrive(subscription: string, now: number, seqs?: readonly number[]): Promise<number>;
  /** Counts of waiting retries and dead letters per subscription. */
  backlog(): Promise<Map<string, { retries: number; dead: number }>>;

  /**
   * Stores a new async invocation (queued); refuses it with STRATUS_E_OVERLOADED when its service
   * already has `maxUnfinished` queued or running (checked atomically with the insert).
   */
  createInvocation(record: InvocationRecord, maxUnfinished?: number): Promise<void>;
  /** Updates an invocation's state, attempts, result or error. */
  updateInvocation(id: string, patch: Partial<Pick<InvocationRecord, "state" | "attempts" | "result" | "error" | "updated">>): Promise<void>;
  /** The invocation, or null. */
  invocation(id: string): Promise<InvocationRecord | null>;
  /** Deletes completed and failed invocations last updated before `before`; returns how many. */
  pruneInvocations(before: number): Promise<number>;

  /** Takes or renews the cron lease (one node-wide scheduler). */
  leaseCron(owner: string, now: number, until: number): Promise<boolean>;
  /** The last due time a schedule was started for, or null when it never ran. */
  lastRun(schedule: string): Promise<number | null>;
  /** Records that the run due at `due` started, unless one at or after it already did; true when this call won. */
  claimRun(schedule: string, due: number): Promise<boolean>;

  /** Deletes events older than their topic's retention that every subscription has passed. */
  prune(now: number, retentionMs: ReadonlyMap<string, number>): Promise<number>;
  /** Lands every write already issued, then closes the store (its file or its connections). */
  close(): Promise<void>;
}
