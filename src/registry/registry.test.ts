// The Registry interface against the embedded backend: the shared conformance suite, then what
// only SQLite does (a file that outlives the process that wrote it).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { registrySuite } from "./conformance.ts";
import { SqliteRegistry } from "./index.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), "stratus-registry-"));
  dirs.push(d);
  return d;
};

registrySuite("SqliteRegistry", () => new SqliteRegistry(join(tempDir(), "registry.sqlite")));

test("SqliteRegistry: what one instance wrote, the next one opened on the file reads", async () => {
  const file = join(tempDir(), "registry.sqlite");
  const a = new SqliteRegistry(file);
  await a.setStack({ name: "s", yaml: "{}", active: { x: "v1" }, applied: 1 }, { at: 1, actor: "t", action: "apply", detail: {} });
  await a.close();
  const b = new SqliteRegistry(file);
  assert.deepEqual((await b.stack())?.active, { x: "v1" });
  assert.equal((await b.auditLog(1))[0]?.action, "apply");
  await b.close();
});
