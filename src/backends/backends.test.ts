// Backends are chosen once, as a description that crosses to worker processes intact.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { testNats, testPostgres } from "../../test/helpers/services.ts";
import { chooseBackends, decodeBackends, encodeBackends, openCoordination, openEventStore, openRegistry, openStateProvider } from "./index.ts";

test("a data directory chooses the embedded backends in it; none keeps everything in memory", () => {
  assert.deepEqual(chooseBackends({ dataDir: "/data" }), {
    state: { kind: "sqlite", dir: "/data/state" },
    events: { kind: "sqlite", file: "/data/events.sqlite" },
    registry: { kind: "sqlite", file: "/data/registry.sqlite" },
    coordination: { kind: "sqlite", file: "/data/cluster.sqlite" },
  });
  assert.deepEqual(chooseBackends({ dataDir: null }), {
    state: { kind: "sqlite", dir: null },
    events: { kind: "sqlite", file: null },
    registry: null,
    coordination: { kind: "sqlite", file: null },
  });
});

test("a cluster's servers choose PostgreSQL for KV and the registry and NATS for coordination; a bad cluster name is refused", () => {
  const cluster = { name: "shop_eu", postgres: "postgres://db/stratus", nats: "nats://mq:4222" };
  assert.deepEqual(chooseBackends({ dataDir: "/data", cluster }), {
    state: { kind: "postgres", url: "postgres://db/stratus", schema: "stratus_shop_eu", sqlDir: "/data/state" },
    events: { kind: "sqlite", file: "/data/events.sqlite" },
    registry: { kind: "postgres", url: "postgres://db/stratus", schema: "stratus_shop_eu" },
    coordination: { kind: "nats", url: "nats://mq:4222", cluster: "shop_eu" },
  });
  for (const name of ["Shop", "a-b", "", "x".repeat(49), "a;b"]) {
    assert.throws(() => chooseBackends({ dataDir: null, cluster: { ...cluster, name } }), { code: "STRATUS_E_CLI_USAGE" }, name);
  }
  const b = chooseBackends({ dataDir: "/data", cluster });
  assert.deepEqual(decodeBackends(encodeBackends(b)), b);
});

test("the description round-trips through a worker's environment, and anything else is refused", () => {
  const b = chooseBackends({ dataDir: "/data" });
  assert.deepEqual(decodeBackends(encodeBackends(b)), b);
  for (const bad of ["/data/events.sqlite", "{}", '{"state":{"kind":"redis","dir":null},"events":{"kind":"sqlite","file":null},"registry":null}']) {
    assert.throws(() => decodeBackends(bad), { code: "STRATUS_E_INTERNAL" }, bad);
  }
  assert.throws(() => decodeBackends(JSON.stringify({ ...b, extra: 1 })), { code: "STRATUS_E_INTERNAL" }, "unknown fields are refused");
});

test("each description opens a working store", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-backends-"));
  try {
    const b = chooseBackends({ dataDir: dir });
    const state = openStateProvider(b.state);
    await state.kv("svc", "KV").put("k", new Uint8Array([1]));
    assert.equal((await state.kv("svc", "KV").get("k"))?.value[0], 1);
    await state.close();
    const events = openEventStore(b.events);
    const [r] = await events.append([{ topic: "t", id: "1", key: null, time: 1, body: "{}" }]);
    assert.equal(r?.seq, 1);
    await events.close();
    const registry = openRegistry(b.registry!);
    await registry.setMeta("m", "v");
    assert.equal(await registry.meta("m"), "v");
    await registry.close();
    const coordination = await openCoordination(b.coordination);
    assert.equal((await coordination.leases.acquire("l", "me", 0, 10))?.owner, "me");
    await coordination.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const pg = await testPostgres();
const nats = await testNats();

test("a cluster's description opens working stores on the real servers", { skip: pg.skip || nats.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-backends-"));
  // A schema name of the helper's, so that it is dropped afterwards.
  const name = pg.schema().slice("stratus_".length);
  const b = chooseBackends({ dataDir: dir, cluster: { name, postgres: pg.url, nats: nats.url } });
  const state = openStateProvider(b.state);
  const registry = openRegistry(b.registry!);
  try {
    await state.kv("svc", "KV").put("k", new Uint8Array([7]));
    assert.equal((await state.kv("svc", "KV").get("k"))?.value[0], 7);
    await state.sql("svc", "DB").exec("CREATE TABLE t (x INTEGER)");
    await registry.setMeta("m", "v");
    assert.equal(await registry.meta("m"), "v");
  } finally {
    await state.close();
    await registry.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // A bucket name of the helper's, so that it is deleted afterwards.
  const coordination = await openCoordination({ kind: "nats", url: nats.url, cluster: nats.cluster() });
  try {
    assert.equal((await coordination.leases.acquire("l", "me", 0, 10))?.owner, "me");
  } finally {
    await coordination.close();
  }
});
