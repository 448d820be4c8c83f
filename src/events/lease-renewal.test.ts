// Lease renewal on a process that holds none of the leases (a second worker): the subscription
// table is read once per renewal for all refused subscriptions, not once per subscription (with
// 1,000 services, each with its async-invocation subscription, that was a million rows a renewal).
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import { tempProject } from "../../test/helpers/project.ts";
import { parseStack } from "../config/index.ts";
import { silentLogger } from "../telemetry/index.ts";
import { EventBus } from "./bus.ts";
import type { EventStore } from "./interface.ts";
import { SqliteEventStore } from "./sqlite/store.ts";

const project = tempProject({ "s.ts": "" });
after(() => project.remove());

test("a bus refused every lease reads the subscription table once per renewal", async () => {
  let yaml = "name: t\nservices:\n";
  for (let i = 0; i < 20; i++) yaml += `  s${i}:\n    entry: s.ts\n    routes: ["GET /s${i}"]\n`;
  const stack = parseStack(yaml, join(project.dir, "stratus.yaml"));
  const file = join(project.dir, "events.sqlite");
  const none = (): Promise<never> => Promise.reject(new Error("no handlers here"));
  const target = { deliver: none, scheduled: none, invoke: none };
  const first = new EventBus({ store: new SqliteEventStore({ file }), target, logger: silentLogger(), owner: `elsewhere:1:a` });
  await first.configure(stack); // holds every lease
  let reads = 0;
  const store = new SqliteEventStore({ file });
  const counted = new Proxy(store, {
    get(t, k: keyof EventStore) {
      const v = Reflect.get(t, k) as unknown;
      if (k === "subscriptions") return () => (reads++, t.subscriptions());
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(t) : v;
    },
  });
  const second = new EventBus({ store: counted, target, logger: silentLogger(), owner: `elsewhere:2:b` });
  await second.configure(stack); // one renewal, every lease refused
  assert.equal(reads, 1, `${reads} reads of the subscription table for 20 refused leases`);
  const subs = await second.subscriptions();
  assert.equal(subs.length, 20);
  assert.ok(
    subs.every((s) => s.owner === "elsewhere:1:a"),
    "the leases stay with their holder",
  );
  await second.close();
  await first.close();
});
