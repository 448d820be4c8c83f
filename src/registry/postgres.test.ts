// The registry conformance suite against a real PostgreSQL server (PostgresRegistry). Without a
// server the suite is skipped and says why; with STRATUS_REQUIRE_SERVICES=1 (CI) it fails instead.
import assert from "node:assert/strict";
import { test } from "node:test";
import { testPostgres } from "../../test/helpers/services.ts";
import { registrySuite } from "./conformance.ts";
import { PostgresRegistry } from "./postgres.ts";

const pg = await testPostgres();

registrySuite("PostgresRegistry", () => new PostgresRegistry({ url: pg.url, schema: pg.schema() }), { skip: pg.skip });

test("PostgresRegistry: two nodes on one schema see one registry", { skip: pg.skip }, async () => {
  const schema = pg.schema();
  const a = new PostgresRegistry({ url: pg.url, schema });
  const b = new PostgresRegistry({ url: pg.url, schema });
  try {
    await Promise.all([a.setMeta("from", "a"), b.audit({ at: 1, actor: "b", action: "hello", detail: {} })]);
    await a.setStack({ name: "shop", yaml: "{}", active: { orders: "v1" }, applied: 2 }, { at: 2, actor: "a", action: "apply", detail: {} });
    assert.deepEqual((await b.stack())?.active, { orders: "v1" });
    assert.equal(await b.meta("from"), "a");
    assert.deepEqual(
      (await a.auditLog(10)).map((e) => e.action),
      ["apply", "hello"],
    );
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test("PostgresRegistry: a server that does not answer fails the call with STRATUS_E_REGISTRY", async () => {
  const r = new PostgresRegistry({ url: "postgres://postgres@127.0.0.1:1/test", schema: "unreachable" });
  try {
    await assert.rejects(() => r.stack(), { code: "STRATUS_E_REGISTRY" });
  } finally {
    await r.close();
  }
});
