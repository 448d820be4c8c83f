import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_CODES, StratusError, hasErrorCode } from "./index.ts";

test("docs/errors.md lists every code, and only those", () => {
  const doc = readFileSync(new URL("../../docs/errors.md", import.meta.url), "utf8");
  const documented = new Set([...doc.matchAll(/`(STRATUS_E_[A-Z_]+)`/g)].map((m) => m[1]));
  assert.deepEqual([...documented].sort(), Object.keys(ERROR_CODES).sort());
  for (const [code, v] of Object.entries(ERROR_CODES)) assert.ok(doc.includes(`| \`${code}\` | ${v.status} |`), `${code} row is stale`);
});

test("errors keep their code through JSON and across realms", () => {
  const e = new StratusError("STRATUS_E_ROUTE_CONFLICT", "x");
  assert.equal(e.status, 400);
  assert.deepEqual(JSON.parse(JSON.stringify(e)), { error: { code: "STRATUS_E_ROUTE_CONFLICT", message: "x" } });
  assert.ok(hasErrorCode({ code: "STRATUS_E_SQL", message: "from another realm" }));
  assert.ok(!hasErrorCode({ code: "ENOENT" }));
});
