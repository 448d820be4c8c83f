// The EventStore interface against the embedded backend: the shared conformance suite
// (conformance.ts), then what only SQLite does (reopening the file, migrating old files).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { eventStoreSuite } from "./conformance.ts";
import type { AppendInput } from "./interface.ts";
import { SqliteEventStore } from "./sqlite/store.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function ev(topic: string, id: string, time = 1000, key: string | null = null): AppendInput {
  return { topic, id, key, time, body: JSON.stringify({ specversion: "1.0", id, source: "/t", type: topic }) };
}

eventStoreSuite("SqliteEventStore, in memory", () => new SqliteEventStore({ file: ":memory:" }));
eventStoreSuite("SqliteEventStore, on disk", () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  return new SqliteEventStore({ file: join(dir, "events.sqlite") });
});

test("SqliteEventStore: an acknowledged append is in the file for the next process (reopen)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const s = new SqliteEventStore({ file });
  const [r] = await s.append([ev("t", "kept")]);
  // No close(): the next opener must see it anyway (WAL, committed before the promise resolved).
  const other = new SqliteEventStore({ file });
  assert.deepEqual(
    (await other.read("t", 0, 10)).map((e) => e.seq),
    [r!.seq],
  );
  await other.close();
  await s.close();
});

test("SqliteEventStore: a file from before the partial dedup index is migrated, and its ids stay deduplicated", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const old = new DatabaseSync(file);
  old.exec(
    "CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL, key TEXT, time INTEGER NOT NULL, body TEXT NOT NULL); CREATE UNIQUE INDEX events_topic_id ON events (topic, id); INSERT INTO events (topic, id, key, time, body) VALUES ('t', 'kept', NULL, 1, '{}');",
  );
  old.close();
  const s = new SqliteEventStore({ file });
  const [again] = await s.append([ev("t", "kept")]);
  assert.equal(again!.duplicate, true);
  const [fresh, twin] = await s.append([
    { ...ev("t", "generated"), dedupe: false },
    { ...ev("t", "generated"), dedupe: false },
  ]);
  assert.equal(fresh!.duplicate, false);
  assert.equal(twin!.duplicate, false, "ids Stratus made are not checked");
  await s.close();
});

test("SqliteEventStore: identity is (topic, source, id); a file deduplicating on (topic, id) is migrated from the stored sources", async () => {
  const { DatabaseSync } = await import("node:sqlite");
  const dir = mkdtempSync(join(tmpdir(), "stratus-events-"));
  dirs.push(dir);
  const file = join(dir, "events.sqlite");
  const old = new DatabaseSync(file);
  old.exec(
    `CREATE TABLE events (seq INTEGER PRIMARY KEY, topic TEXT NOT NULL, id TEXT NOT NULL, key TEXT, time INTEGER NOT NULL, body TEXT NOT NULL, dedup_id TEXT);
     CREATE UNIQUE INDEX events_dedup ON events (topic, dedup_id) WHERE dedup_id IS NOT NULL;
     INSERT INTO events (topic, id, key, time, body, dedup_id) VALUES ('t', 'ship-1', NULL, 1, '{"id":"ship-1","source":"/carrier"}', 'ship-1');
     PRAGMA user_version = 1;`,
  );
  old.close();
  const s = new SqliteEventStore({ file });
  const [same] = await s.append([{ ...ev("t", "ship-1"), source: "/carrier" }]);
  assert.equal(same!.duplicate, true, "the stored event keeps its identity");
  assert.equal(same!.seq, 1);
  const [other] = await s.append([{ ...ev("t", "ship-1"), source: "/evil" }]);
  assert.equal(other!.duplicate, false, "another source's id is another event");
  const [again] = await s.append([{ ...ev("t", "ship-1"), source: "/evil" }]);
  assert.deepEqual(again, { seq: other!.seq, duplicate: true });
  await s.close();
});
