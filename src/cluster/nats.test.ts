// The coordination suite against a real NATS JetStream server (NatsCoordination). Without a
// server the suite is skipped and says why; with STRATUS_REQUIRE_SERVICES=1 (CI) it fails instead.
import assert from "node:assert/strict";
import { test } from "node:test";
import { testNats } from "../../test/helpers/services.ts";
import { coordinationSuite } from "./conformance.ts";
import { NatsCoordination } from "./nats.ts";

const nats = await testNats();
const URL = nats.url;

coordinationSuite(
  "NatsCoordination (two connections to one bucket)",
  async () => {
    const cluster = nats.cluster();
    return { first: await NatsCoordination.open({ url: URL, cluster }), second: () => NatsCoordination.open({ url: URL, cluster }) };
  },
  { skip: nats.skip },
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
