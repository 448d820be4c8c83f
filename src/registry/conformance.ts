/**
 * The conformance suite of the Registry interface, exported so that every backend (SQLite on a
 * node, PostgreSQL on a cluster) runs the same tests: call `registrySuite(name, make)` from a test
 * file with a factory that returns a fresh, empty registry of that backend.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { AuditEntry, Registry, SealedSecret, TokenInfo, VersionRecord } from "./interface.ts";

/** Makes a fresh, empty registry (a new file, a new schema or cluster name). */
export type MakeRegistry = () => Registry | Promise<Registry>;

/** Options of registrySuite. */
export interface RegistrySuiteOptions {
  /** Skip the whole suite, with the reason shown in the test report (a backend's server is not running). */
  skip?: string | false;
}

async function withRegistry(make: MakeRegistry, fn: (r: Registry) => Promise<void>): Promise<void> {
  const r = await make();
  try {
    await fn(r);
  } finally {
    await r.close();
  }
}

function tokenInfo(id: string, over: Partial<TokenInfo> = {}): TokenInfo {
  return { id, name: `t-${id}`, role: "reader", created: 1000, expires: null, revoked: null, ...over };
}

function versionRecord(service: string, version: string, created: number, code = `code of ${version}`): VersionRecord {
  return { service, version, created, digest: `digest-${version}`, code, config: JSON.stringify({ name: service }) };
}

function secret(name: string, sealed: string, updated = 1000): SealedSecret {
  return { name, sealed, keyId: "key1", updated };
}

const audit = (action: string, at = 1000): Omit<AuditEntry, "id"> => ({ at, actor: "tester", action, detail: { action, nested: { n: [1, 2] } } });

/** Registers the Registry conformance tests for one backend. */
export function registrySuite(name: string, make: MakeRegistry, opts: RegistrySuiteOptions = {}): void {
  describe(`Registry conformance: ${name}`, { skip: opts.skip ?? false }, () => {
    test("tokens: stored by hash, listed oldest first, revoked once", () =>
      withRegistry(make, async (r) => {
        assert.deepEqual(await r.tokens(), []);
        assert.equal(await r.tokenByHash("h1"), null);
        await r.createToken(tokenInfo("aaaa0001", { created: 2000, role: "admin" }), "h1");
        await r.createToken(tokenInfo("aaaa0002", { created: 1000, expires: 5000 }), "h2");
        assert.deepEqual(await r.tokenByHash("h1"), tokenInfo("aaaa0001", { created: 2000, role: "admin" }));
        assert.deepEqual(
          (await r.tokens()).map((t) => t.id),
          ["aaaa0002", "aaaa0001"],
        );
        assert.equal((await r.tokenByHash("h2"))?.expires, 5000);
        await assert.rejects(() => r.createToken(tokenInfo("aaaa0003"), "h1"), "a hash is stored once");
        assert.equal(await r.revokeToken("aaaa0002", 3000), true);
        assert.equal(await r.revokeToken("aaaa0002", 4000), true);
        assert.equal((await r.tokenByHash("h2"))?.revoked, 3000, "the first revocation time is kept");
        assert.equal(await r.revokeToken("nope", 3000), false);
      }));

    test("versions: stored, listed newest first, rewritten in place, deleted", () =>
      withRegistry(make, async (r) => {
        assert.deepEqual(await r.versions("svc"), []);
        assert.equal(await r.version("svc", "v1"), null);
        await r.putVersion(versionRecord("svc", "v1", 1000));
        await r.putVersion(versionRecord("svc", "v2", 2000));
        await r.putVersion(versionRecord("svc", "v3", 2000));
        await r.putVersion(versionRecord("other", "v1", 500, "other code"));
        assert.deepEqual(
          (await r.versions("svc")).map((v) => v.version),
          ["v3", "v2", "v1"],
          "newest first; the same time in order of storing, later first",
        );
        assert.deepEqual(await r.version("svc", "v1"), versionRecord("svc", "v1", 1000));
        assert.equal((await r.version("other", "v1"))?.code, "other code", "versions are per service");
        // Storing the same id again repairs its content and keeps its creation time.
        await r.putVersion({ ...versionRecord("svc", "v1", 9999), code: "repaired", digest: "d2" });
        const v1 = await r.version("svc", "v1");
        assert.equal(v1?.code, "repaired");
        assert.equal(v1?.digest, "d2");
        assert.equal(v1?.created, 1000);
        assert.equal((await r.versions("svc")).length, 3);
        assert.equal(await r.deleteVersion("svc", "v2"), true);
        assert.equal(await r.deleteVersion("svc", "v2"), false);
        assert.deepEqual(
          (await r.versions("svc")).map((v) => v.version),
          ["v3", "v1"],
        );
      }));

    test("a version's code is kept byte for byte (large, and every kind of character)", () =>
      withRegistry(make, async (r) => {
        const code = `// \u00e9\u{1F600}\t'quote' "double" \\ back\n${"x".repeat(2 * 1024 * 1024)}\u0001end`;
        await r.putVersion(versionRecord("svc", "big", 1, code));
        assert.equal((await r.version("svc", "big"))?.code, code);
      }));

    test("the applied stack and its audit entry are recorded together; null removes it", () =>
      withRegistry(make, async (r) => {
        assert.equal(await r.stack(), null);
        const stack = { name: "shop", yaml: '{"name":"shop"}', active: { orders: "v1", payments: "v9" }, applied: 1234 };
        await r.setStack(stack, audit("apply", 1234));
        assert.deepEqual(await r.stack(), stack);
        const next = { ...stack, active: { orders: "v2" }, applied: 2000 };
        await r.setStack(next, audit("deploy", 2000));
        assert.deepEqual(await r.stack(), next);
        assert.deepEqual(
          (await r.auditLog(10)).map((e) => e.action),
          ["deploy", "apply"],
        );
        await r.setStack(null, audit("destroy", 3000));
        assert.equal(await r.stack(), null);
        assert.equal((await r.auditLog(1))[0]?.action, "destroy");
      }));

    test("secrets: put replaces, delete reports, replaceSecrets swaps the whole set", () =>
      withRegistry(make, async (r) => {
        assert.deepEqual(await r.secrets(), []);
        await r.putSecret(secret("B", "sealed-b"));
        await r.putSecret(secret("A", "sealed-a"));
        await r.putSecret(secret("A", "sealed-a2", 2000));
        assert.deepEqual(await r.secrets(), [secret("A", "sealed-a2", 2000), secret("B", "sealed-b")]);
        assert.equal(await r.deleteSecret("B"), true);
        assert.equal(await r.deleteSecret("B"), false);
        await r.putSecret(secret("C", "sealed-c"));
        await r.replaceSecrets([
          { ...secret("A", "new-a"), keyId: "key2" },
          { ...secret("D", "new-d"), keyId: "key2" },
        ]);
        assert.deepEqual(await r.secrets(), [
          { ...secret("A", "new-a"), keyId: "key2" },
          { ...secret("D", "new-d"), keyId: "key2" },
        ]);
      }));

    test("the audit log: newest first, bounded by limit, detail kept as structured data", () =>
      withRegistry(make, async (r) => {
        for (let i = 1; i <= 5; i++) await r.audit(audit(`a${i}`, i));
        const log = await r.auditLog(3);
        assert.deepEqual(
          log.map((e) => e.action),
          ["a5", "a4", "a3"],
        );
        assert.deepEqual(log[0]?.detail, { action: "a5", nested: { n: [1, 2] } });
        assert.equal(log[0]?.actor, "tester");
        assert.equal(log[0]?.at, 5);
        assert.ok(log[0].id > log[1]!.id, "ids grow with each entry");
        assert.equal((await r.auditLog(100)).length, 5);
      }));

    test("meta: set, replace, read", () =>
      withRegistry(make, async (r) => {
        assert.equal(await r.meta("canaries"), null);
        await r.setMeta("canaries", "{}");
        await r.setMeta("canaries", '{"a":1}');
        assert.equal(await r.meta("canaries"), '{"a":1}');
        assert.equal(await r.meta("other"), null);
      }));

    test("concurrent writes all land", () =>
      withRegistry(make, async (r) => {
        await Promise.all([
          ...Array.from({ length: 20 }, (_, i) => r.audit(audit(`c${i}`, i))),
          ...Array.from({ length: 20 }, (_, i) => r.putVersion(versionRecord("svc", `v${i}`, i))),
        ]);
        assert.equal((await r.auditLog(100)).length, 20);
        assert.equal((await r.versions("svc")).length, 20);
      }));
  });
}
