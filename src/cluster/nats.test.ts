// The coordination suite against a real NATS JetStream server (NatsCoordination). Without a
// server the suite is skipped and says why; with STRATUS_REQUIRE_SERVICES=1 (CI) it fails instead.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, test } from "node:test";
import { coordinationSuite } from "./conformance.ts";
import { NatsCoordination } from "./nats.ts";

const URL = process.env["STRATUS_TEST_NATS_URL"] ?? "nats://127.0.0.1:4222";
const required = process.env["STRATUS_REQUIRE_SERVICES"] === "1";

/** Null when the server answers with JetStream on, else why not. */
async function reach(url: string): Promise<string | null> {
  const [{ connect }, { jetstreamManager }] = await Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]);
  try {
    const nc = await connect({ servers: url, timeout: 3000 });
    try {
      await (await jetstreamManager(nc)).getAccountInfo();
      return null;
    } finally {
      await nc.close();
    }
  } catch (err) {
    return err instanceof Error ? err.message || err.name : String(err);
  }
}

const problem = await reach(URL);
const skip =
  problem !== null && !required
    ? `NATS with JetStream is not reachable at ${URL} (${problem}); start it, set STRATUS_TEST_NATS_URL, or set STRATUS_REQUIRE_SERVICES=1 to fail instead of skipping`
    : false;
if (problem !== null && required) {
  test("NATS with JetStream is reachable (STRATUS_REQUIRE_SERVICES=1)", () => {
    assert.fail(`NATS with JetStream is not reachable at ${URL}: ${problem}; start it (.ci/run does) or point STRATUS_TEST_NATS_URL at one`);
  });
}

// Every test gets a cluster name (a bucket) of its own, deleted at the end.
const clusters: string[] = [];
after(async () => {
  if (problem !== null || clusters.length === 0) return;
  const [{ connect }, { jetstreamManager }] = await Promise.all([import("@nats-io/transport-node"), import("@nats-io/jetstream")]);
  const nc = await connect({ servers: URL });
  try {
    const jsm = await jetstreamManager(nc);
    for (const c of clusters) await jsm.streams.delete(`KV_stratus-${c}-coord`).catch(() => false);
  } finally {
    await nc.close();
  }
});

coordinationSuite(
  "NatsCoordination (two connections to one bucket)",
  async () => {
    const cluster = `test-${process.pid}-${randomBytes(4).toString("hex")}`;
    clusters.push(cluster);
    return { first: await NatsCoordination.open({ url: URL, cluster }), second: () => NatsCoordination.open({ url: URL, cluster }) };
  },
  { skip },
);

test("NatsCoordination: a server that does not answer fails open() with STRATUS_E_CLUSTER", async () => {
  await assert.rejects(
    () => NatsCoordination.open({ url: "nats://127.0.0.1:1", cluster: "unreachable", connectTimeoutMs: 2000 }),
    (e: { code?: string; message?: string }) => e.code === "STRATUS_E_CLUSTER" && /NATS/.test(e.message ?? ""),
  );
});

test("NatsCoordination: a cluster name that is not a bucket name is refused", async () => {
  await assert.rejects(() => NatsCoordination.open({ url: URL, cluster: "a b.c" }), { code: "STRATUS_E_CLI_USAGE" });
});
