/**
 * The embedded event store: one SQLite file (node:sqlite, WAL, synchronous=FULL) shared by the
 * worker processes of a node. Writes are group-committed: every write issued in one turn of the
 * event loop goes into one transaction, and their promises resolve after COMMIT has been fsynced.
 */
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { StratusError } from "../../errors/index.ts";
import { privateDbFile } from "../../state/index.ts";
import type { AppendInput, AppendResult, DeadLetter, EventStore, InvocationRecord, RetryEntry, StoredEvent, SubscriptionState } from "../interface.ts";

/** Options of SqliteEventStore. */
export interface SqliteEventStoreOptions {
  /** The database file; ":memory:" for a store that lives as long as the process. */
  file: string;
  /**
   * "full" (default): every commit is fsynced, so an acknowledged event survives power loss too.
   * "normal": WAL without fsync per commit; survives a killed process, not a power cut.
   */
  durability?: "full" | "normal";
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL, key TEXT, time INTEGER NOT NULL, body TEXT NOT NULL, dedup_id TEXT);
CREATE INDEX IF NOT EXISTS events_topic_seq ON events (topic, seq);
CREATE TABLE IF NOT EXISTS subscriptions (name TEXT PRIMARY KEY, topic TEXT NOT NULL, cursor INTEGER NOT NULL, generation INTEGER NOT NULL DEFAULT 0, owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS retries (sub TEXT NOT NULL, seq INTEGER NOT NULL, attempts INTEGER NOT NULL, visible_at INTEGER NOT NULL, last_error TEXT NOT NULL, PRIMARY KEY (sub, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead (sub TEXT NOT NULL, seq INTEGER NOT NULL, attempts INTEGER NOT NULL, error TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (sub, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS invocations (id TEXT PRIMARY KEY, service TEXT NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL, created INTEGER NOT NULL, updated INTEGER NOT NULL, request TEXT NOT NULL, result TEXT, error TEXT);
CREATE INDEX IF NOT EXISTS invocations_service_state ON invocations (service, state);
CREATE TABLE IF NOT EXISTS cron (id TEXT PRIMARY KEY, last_due INTEGER, owner TEXT, lease_until INTEGER NOT NULL DEFAULT 0);
`;

type Row = Record<string, unknown>;

function toEvent(r: Row): StoredEvent {
  return { seq: Number(r["seq"]), topic: r["topic"] as string, key: (r["key"] as string | null) ?? null, time: Number(r["time"]), body: r["body"] as string };
}

function toSubscription(r: Row): SubscriptionState {
  return {
    name: r["name"] as string,
    topic: r["topic"] as string,
    cursor: Number(r["cursor"]),
    generation: Number(r["generation"]),
    owner: (r["owner"] as string | null) ?? null,
    leaseUntil: Number(r["lease_until"]),
  };
}

/** The embedded EventStore. */
export class SqliteEventStore implements EventStore {
  readonly #db: DatabaseSync;
  readonly #s: Record<string, StatementSync>;
  #queue: { run: () => unknown; resolve: (v: unknown) => void; reject: (e: unknown) => void }[] = [];
  #flushQueued = false;
  #closed = false;

  constructor(opts: SqliteEventStoreOptions) {
    try {
      // Event payloads are the services' data: private to the owner, like the state files.
      if (opts.file !== ":memory:") {
        mkdirSync(dirname(opts.file), { recursive: true, mode: 0o700 });
        privateDbFile(opts.file);
      }
      this.#db = new DatabaseSync(opts.file, { timeout: 10_000 });
      this.#db.exec(`PRAGMA journal_mode=WAL; PRAGMA synchronous=${opts.durability === "normal" ? "NORMAL" : "FULL"};`);
      privateDbFile(opts.file);
      this.#db.exec(SCHEMA);
      this.#migrate();
    } catch (err) {
      throw new StratusError(
        "STRATUS_E_EVENT_STORE",
        `cannot open the event store ${opts.file}: ${(err as Error).message}; check the path and its permissions`,
        {
          cause: err,
        },
      );
    }
    const p = (sql: string): StatementSync => this.#db.prepare(sql);
    this.#s = {
      insert: p("INSERT INTO events (topic, id, key, time, body, dedup_id, source) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"),
      seqOf: p("SELECT seq FROM events WHERE topic = ? AND source = ? AND dedup_id = ?"),
      read: p("SELECT seq, topic, key, time, body FROM events WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?"),
      head: p("SELECT coalesce(max(seq), 0) AS seq FROM events"),
      sizes: p("SELECT seq, octet_length(body) AS n FROM events WHERE topic = ? AND seq > ? ORDER BY seq LIMIT ?"),
      readTo: p("SELECT seq, topic, key, time, body FROM events WHERE topic = ? AND seq > ? AND seq <= ? ORDER BY seq"),
      countAfter: p("SELECT count(*) AS n FROM (SELECT 1 FROM events WHERE topic = ? AND seq > ? LIMIT ?)"),
      unfinished: p("SELECT count(*) AS n FROM (SELECT 1 FROM invocations WHERE service = ? AND state IN ('queued', 'running') LIMIT ?)"),
      pruneInv: p("DELETE FROM invocations WHERE state IN ('completed', 'failed') AND updated < ?"),
      atTime: p("SELECT coalesce(min(seq), -1) AS seq FROM events WHERE topic = ? AND time >= ?"),
      getSub: p("SELECT * FROM subscriptions WHERE name = ?"),
      allSubs: p("SELECT * FROM subscriptions ORDER BY name"),
      newSub: p("INSERT INTO subscriptions (name, topic, cursor) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING"),
      lease: p("UPDATE subscriptions SET owner = ?, lease_until = ? WHERE name = ? AND (owner IS NULL OR owner = ? OR lease_until <= ?) RETURNING *"),
      unlease: p("UPDATE subscriptions SET owner = NULL, lease_until = 0 WHERE name = ? AND owner = ?"),
      commit: p("UPDATE subscriptions SET cursor = max(cursor, ?) WHERE name = ? AND owner = ? AND generation = ?"),
      reset: p("UPDATE subscriptions SET cursor = ?, generation = generation + 1 WHERE name = ? RETURNING *"),
      dropRetries: p("DELETE FROM retries WHERE sub = ?"),
      retry: p(
        "INSERT INTO retries (sub, seq, attempts, visible_at, last_error) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sub, seq) DO UPDATE SET attempts = excluded.attempts, visible_at = excluded.visible_at, last_error = excluded.last_error",
      ),
      due: p(
        "SELECT r.attempts, r.visible_at, r.last_error, e.seq, e.topic, e.key, e.time, e.body FROM retries r JOIN events e ON e.seq = r.seq WHERE r.sub = ? AND r.visible_at <= ? ORDER BY r.visible_at, r.seq LIMIT ?",
      ),
      nextRetry: p("SELECT min(visible_at) AS at FROM retries WHERE sub = ?"),
      dropRetry: p("DELETE FROM retries WHERE sub = ? AND seq = ?"),
      dead: p(
        "INSERT INTO dead (sub, seq, attempts, error, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (sub, seq) DO UPDATE SET attempts = excluded.attempts, error = excluded.error, at = excluded.at",
      ),
      deadList: p(
        "SELECT d.sub, d.attempts, d.error, d.at, e.seq, e.topic, e.key, e.time, e.body FROM dead d JOIN events e ON e.seq = d.seq WHERE d.sub = ? AND d.seq > ? ORDER BY d.seq LIMIT ?",
      ),
      deadSeqs: p("SELECT seq FROM dead WHERE sub = ?"),
      undead: p("DELETE FROM dead WHERE sub = ? AND seq = ? RETURNING seq"),
      retryCounts: p("SELECT sub, count(*) AS n FROM retries GROUP BY sub"),
      deadCounts: p("SELECT sub, count(*) AS n FROM dead GROUP BY sub"),
      newInv: p("INSERT INTO invocations (id, service, state, attempts, created, updated, request, result, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
      getInv: p("SELECT * FROM invocations WHERE id = ?"),
      cronLease: p(
        "INSERT INTO cron (id, owner, lease_until) VALUES ('$lease', ?, ?) ON CONFLICT (id) DO UPDATE SET owner = excluded.owner, lease_until = excluded.lease_until WHERE cron.owner = excluded.owner OR cron.lease_until <= ? RETURNING owner",
      ),
      lastRun: p("SELECT last_due FROM cron WHERE id = ?"),
      claimRun: p(
        "INSERT INTO cron (id, last_due) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET last_due = excluded.last_due WHERE cron.last_due IS NULL OR cron.last_due < excluded.last_due RETURNING last_due",
      ),
    };
  }

  /**
   * Version 1: only ids given by the publisher are deduplicated (a partial unique index on
   * dedup_id); a file from before keeps every id deduplicated.
   * Version 2: identity is (topic, source, id), as CloudEvents defines it; the source of every
   * deduplicated event already stored is read back from its body.
   * The processes of a node open the file at once: the version and columns are read again inside
   * the write transaction, so only the first one migrates.
   */
  #migrate(): void {
    const versionNow = (): number => Number(this.#db.prepare("PRAGMA user_version").get()?.["user_version"] ?? 0);
    if (versionNow() >= 2) return;
    this.#db.exec("BEGIN IMMEDIATE");
    try {
      const version = versionNow();
      const cols = this.#db
        .prepare("PRAGMA table_info(events)")
        .all()
        .map((c) => c["name"]);
      if (version < 1) {
        if (!cols.includes("dedup_id")) this.#db.exec("ALTER TABLE events ADD COLUMN dedup_id TEXT; UPDATE events SET dedup_id = id;");
        this.#db.exec("DROP INDEX IF EXISTS events_topic_id;");
      }
      if (version < 2) {
        if (!cols.includes("source")) this.#db.exec("ALTER TABLE events ADD COLUMN source TEXT NOT NULL DEFAULT ''");
        this.#db.exec(
          `UPDATE events SET source = coalesce(CASE WHEN json_valid(body) THEN json_extract(body, '$.source') END, '') WHERE dedup_id IS NOT NULL;
           DROP INDEX IF EXISTS events_dedup; CREATE UNIQUE INDEX IF NOT EXISTS events_dedup_source ON events (topic, source, dedup_id) WHERE dedup_id IS NOT NULL;
           PRAGMA user_version = 2;`,
        );
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      this.#db.exec("ROLLBACK");
      throw err;
    }
  }

  /** Queues a write for the next group commit. */
  #write<T>(run: () => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StratusError("STRATUS_E_EVENT_STORE", "the event store is closed"));
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ run, resolve: resolve as (v: unknown) => void, reject });
      if (!this.#flushQueued) {
        this.#flushQueued = true;
        setImmediate(this.#flush);
      }
    });
  }

  readonly #flush = (): void => {
    this.#flushQueued = false;
    const batch = this.#queue;
    this.#queue = [];
    if (batch.length === 0) return;
    const results: { ok: boolean; value: unknown }[] = new Array(batch.length);
    try {
      this.#db.exec("BEGIN IMMEDIATE");
      for (let i = 0; i < batch.length; i++) {
        try {
          results[i] = { ok: true, value: batch[i]!.run() };
        } catch (err) {
          results[i] = { ok: false, value: err };
        }
      }
      this.#db.exec("COMMIT");
    } catch (err) {
      try {
        this.#db.exec("ROLLBACK");
      } catch {
        // not in a transaction
      }
      const e = new StratusError("STRATUS_E_EVENT_STORE", `the event store could not commit: ${(err as Error).message}`, { cause: err });
      for (const op of batch) op.reject(e);
      return;
    }
    for (let i = 0; i < batch.length; i++) {
      const r = results[i]!;
      if (r.ok) batch[i]!.resolve(r.value);
      else if (r.value instanceof StratusError) batch[i]!.reject(r.value);
      else batch[i]!.reject(new StratusError("STRATUS_E_EVENT_STORE", `event store write failed: ${(r.value as Error).message}`, { cause: r.value }));
    }
  };

  append(events: readonly AppendInput[]): Promise<AppendResult[]> {
    return this.#write(() =>
      events.map((e) => {
        const dedupe = e.dedupe !== false;
        const source = e.source ?? "";
        const r = this.#s["insert"]!.run(e.topic, e.id, e.key, e.time, e.body, dedupe ? e.id : null, source);
        if (Number(r.changes) > 0) return { seq: Number(r.lastInsertRowid), duplicate: false };
        const old = this.#s["seqOf"]!.get(e.topic, source, e.id);
        return { seq: Number(old?.["seq"] ?? 0), duplicate: true };
      }),
    );
  }

  read(topic: string, after: number, limit: number): Promise<StoredEvent[]> {
    return Promise.resolve(this.#s["read"]!.all(topic, after, limit).map(toEvent));
  }

  readBounded(topic: string, after: number, limit: number, maxBytes: number): Promise<StoredEvent[]> {
    // Sizes first (no body is copied out), then only the rows that fit.
    let total = 0;
    let last = -1;
    for (const r of this.#s["sizes"]!.all(topic, after, limit)) {
      total += Number(r["n"]);
      if (last >= 0 && total > maxBytes) break;
      last = Number(r["seq"]);
    }
    if (last < 0) return Promise.resolve([]);
    return Promise.resolve(this.#s["readTo"]!.all(topic, after, last).map(toEvent));
  }

  countAfter(topic: string, after: number, cap: number): Promise<number> {
    return Promise.resolve(Number(this.#s["countAfter"]!.get(topic, after, cap)?.["n"] ?? 0));
  }

  pruneInvocations(before: number): Promise<number> {
    return this.#write(() => Number(this.#s["pruneInv"]!.run(before).changes));
  }

  #head(): number {
    return Number(this.#s["head"]!.get()?.["seq"] ?? 0);
  }

  head(): Promise<number> {
    return Promise.resolve(this.#head());
  }

  cursorAtTime(topic: string, time: number): Promise<number> {
    const first = Number(this.#s["atTime"]!.get(topic, time)?.["seq"] ?? -1);
    return Promise.resolve(first < 0 ? this.#head() : first - 1);
  }

  ensureSubscription(name: string, topic: string, startAt: "latest" | "earliest"): Promise<SubscriptionState> {
    return this.#write(() => {
      this.#s["newSub"]!.run(name, topic, startAt === "earliest" ? 0 : this.#head());
      return toSubscription(this.#s["getSub"]!.get(name)!);
    });
  }

  subscriptions(): Promise<SubscriptionState[]> {
    return Promise.resolve(this.#s["allSubs"]!.all().map(toSubscription));
  }

  lease(name: string, owner: string, now: number, until: number): Promise<SubscriptionState | null> {
    return this.#write(() => {
      const r = this.#s["lease"]!.get(owner, until, name, owner, now);
      return r ? toSubscription(r) : null;
    });
  }

  unlease(name: string, owner: string): Promise<void> {
    return this.#write(() => void this.#s["unlease"]!.run(name, owner));
  }

  commit(name: string, owner: string, generation: number, cursor: number): Promise<boolean> {
    return this.#write(() => Number(this.#s["commit"]!.run(cursor, name, owner, generation).changes) > 0);
  }

  reset(name: string, cursor: number): Promise<SubscriptionState> {
    return this.#write(() => {
      const r = this.#s["reset"]!.get(cursor, name);
      if (!r) throw new StratusError("STRATUS_E_SUBSCRIPTION_UNKNOWN", `no subscription "${name}"`);
      this.#s["dropRetries"]!.run(name);
      return toSubscription(r);
    });
  }

  scheduleRetry(subscription: string, seq: number, attempts: number, visibleAt: number, error: string): Promise<void> {
    return this.#write(() => void this.#s["retry"]!.run(subscription, seq, attempts, visibleAt, error));
  }

  dueRetries(subscription: string, now: number, limit: number, skip: ReadonlySet<number>): Promise<RetryEntry[]> {
    const rows = this.#s["due"]!.all(subscription, now, limit + skip.size);
    const out: RetryEntry[] = [];
    for (const r of rows) {
      if (skip.has(Number(r["seq"]))) continue;
      out.push({ event: toEvent(r), attempts: Number(r["attempts"]), visibleAt: Number(r["visible_at"]), lastError: r["last_error"] as string });
      if (out.length >= limit) break;
    }
    return Promise.resolve(out);
  }

  nextRetryAt(subscription: string): Promise<number | null> {
    const at = this.#s["nextRetry"]!.get(subscription)?.["at"];
    return Promise.resolve(at === null || at === undefined ? null : Number(at));
  }

  dropRetry(subscription: string, seq: number): Promise<void> {
    return this.#write(() => void this.#s["dropRetry"]!.run(subscription, seq));
  }

  deadLetter(subscription: string, seq: number, attempts: number, error: string, at: number): Promise<void> {
    return this.#write(() => {
      this.#s["dead"]!.run(subscription, seq, attempts, error, at);
      this.#s["dropRetry"]!.run(subscription, seq);
    });
  }

  deadLetters(subscription: string, after: number, limit: number): Promise<DeadLetter[]> {
    return Promise.resolve(
      this.#s["deadList"]!.all(subscription, after, limit).map((r) => ({
        subscription: r["sub"] as string,
        event: toEvent(r),
        attempts: Number(r["attempts"]),
        error: r["error"] as string,
        at: Number(r["at"]),
      })),
    );
  }

  redrive(subscription: string, now: number, seqs?: readonly number[]): Promise<number> {
    return this.#write(() => {
      const which = seqs ?? this.#s["deadSeqs"]!.all(subscription).map((r) => Number(r["seq"]));
      let n = 0;
      for (const seq of which) {
        if (!this.#s["undead"]!.get(subscription, seq)) continue;
        this.#s["retry"]!.run(subscription, seq, 0, now, "redriven");
        n++;
      }
      return n;
    });
  }

  backlog(): Promise<Map<string, { retries: number; dead: number }>> {
    const out = new Map<string, { retries: number; dead: number }>();
    const get = (s: string): { retries: number; dead: number } => {
      let v = out.get(s);
      if (!v) out.set(s, (v = { retries: 0, dead: 0 }));
      return v;
    };
    for (const r of this.#s["retryCounts"]!.all()) get(r["sub"] as string).retries = Number(r["n"]);
    for (const r of this.#s["deadCounts"]!.all()) get(r["sub"] as string).dead = Number(r["n"]);
    return Promise.resolve(out);
  }

  createInvocation(r: InvocationRecord, maxUnfinished = Number.POSITIVE_INFINITY): Promise<void> {
    return this.#write(() => {
      // Checked in the write's own transaction, so concurrent accepts cannot pass the bound together.
      if (Number.isFinite(maxUnfinished) && Number(this.#s["unfinished"]!.get(r.service, maxUnfinished)?.["n"] ?? 0) >= maxUnfinished) {
        throw new StratusError(
          "STRATUS_E_OVERLOADED",
          `service "${r.service}" has ${maxUnfinished} async invocations waiting (the limit); retry after the Retry-After seconds, or call it synchronously`,
        );
      }
      this.#s["newInv"]!.run(
        r.id,
        r.service,
        r.state,
        r.attempts,
        r.created,
        r.updated,
        JSON.stringify(r.request),
        r.result ? JSON.stringify(r.result) : null,
        r.error,
      );
    });
  }

  updateInvocation(id: string, patch: Partial<Pick<InvocationRecord, "state" | "attempts" | "result" | "error" | "updated">>): Promise<void> {
    const cols: string[] = [];
    const vals: (string | number | null)[] = [];
    for (const [k, v] of Object.entries(patch)) {
      cols.push(`${k} = ?`);
      vals.push(k === "result" ? (v === null ? null : JSON.stringify(v)) : (v as string | number | null));
    }
    if (cols.length === 0) return Promise.resolve();
    return this.#write(() => void this.#db.prepare(`UPDATE invocations SET ${cols.join(", ")} WHERE id = ?`).run(...vals, id));
  }

  invocation(id: string): Promise<InvocationRecord | null> {
    const r = this.#s["getInv"]!.get(id);
    if (!r) return Promise.resolve(null);
    return Promise.resolve({
      id: r["id"] as string,
      service: r["service"] as string,
      state: r["state"] as InvocationRecord["state"],
      attempts: Number(r["attempts"]),
      created: Number(r["created"]),
      updated: Number(r["updated"]),
      request: JSON.parse(r["request"] as string) as InvocationRecord["request"],
      result: r["result"] ? (JSON.parse(r["result"] as string) as InvocationRecord["result"]) : null,
      error: (r["error"] as string | null) ?? null,
    });
  }

  leaseCron(owner: string, now: number, until: number): Promise<boolean> {
    return this.#write(() => this.#s["cronLease"]!.get(owner, until, now) !== undefined);
  }

  lastRun(schedule: string): Promise<number | null> {
    const v = this.#s["lastRun"]!.get(schedule)?.["last_due"];
    return Promise.resolve(v === null || v === undefined ? null : Number(v));
  }

  claimRun(schedule: string, due: number): Promise<boolean> {
    return this.#write(() => this.#s["claimRun"]!.get(schedule, due) !== undefined);
  }

  prune(now: number, retentionMs: ReadonlyMap<string, number>): Promise<number> {
    return this.#write(() => {
      let n = 0;
      for (const [topic, keep] of retentionMs) {
        // Never past a subscription's cursor, a waiting retry or a dead letter of this topic; and
        // never the newest event of the store: seq is the rowid, and SQLite gives the next row
        // max(rowid) + 1, so deleting the newest would hand its seq out again, behind cursors.
        const r = this.#db
          .prepare(
            `DELETE FROM events WHERE topic = ? AND time < ?
               AND seq <= coalesce((SELECT min(cursor) FROM subscriptions WHERE topic = ?), (SELECT max(seq) FROM events))
               AND seq < (SELECT max(seq) FROM events)
               AND seq NOT IN (SELECT seq FROM retries) AND seq NOT IN (SELECT seq FROM dead)`,
          )
          .run(topic, now - keep, topic);
        n += Number(r.changes);
      }
      return n;
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
    this.#db.close();
  }
}
