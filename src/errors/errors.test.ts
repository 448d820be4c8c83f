import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { ERROR_CODES, StratusError, hasErrorCode, toStratusError } from "./index.ts";

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

test("toStratusError: one boundary; a thrown value never picks its own code or status", () => {
  assert.equal(toStratusError(new StratusError("STRATUS_E_SQL", "bad")).code, "STRATUS_E_SQL");
  assert.equal(toStratusError(new URIError("URI malformed")).code, "STRATUS_E_INTERNAL");
  assert.equal(toStratusError({ code: "STRATUS_E_FORBIDDEN", message: "no" }).status, 403);
  for (const code of ["constructor", "toString", "__proto__", "hasOwnProperty", "ENOENT"]) {
    const e = toStratusError({ code, message: "crafted" });
    assert.equal(e.code, "STRATUS_E_INTERNAL", code);
    assert.equal(e.status, 500);
  }
  const hostile = {
    toString() {
      throw new Error("no");
    },
  };
  assert.equal(toStratusError(hostile).code, "STRATUS_E_INTERNAL");
  assert.equal(toStratusError(Object.create(null)).code, "STRATUS_E_INTERNAL");
});
