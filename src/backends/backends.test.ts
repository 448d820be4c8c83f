// Backends are chosen once, as a description that crosses to worker processes intact.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { chooseBackends, decodeBackends, encodeBackends, openEventStore, openRegistry, openStateProvider } from "./index.ts";

test("a data directory chooses the embedded backends in it; none keeps everything in memory", () => {
  assert.deepEqual(chooseBackends({ dataDir: "/data" }), {
    state: { kind: "sqlite", dir: "/data/state" },
    events: { kind: "sqlite", file: "/data/events.sqlite" },
    registry: { kind: "sqlite", file: "/data/registry.sqlite" },
  });
  assert.deepEqual(chooseBackends({ dataDir: null }), { state: { kind: "sqlite", dir: null }, events: { kind: "sqlite", file: null }, registry: null });
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
