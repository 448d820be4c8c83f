// The prelude's lazy modules: the host hands over only the modules it lists, whatever name code
// inside the isolate asks for, and what it hands over runs in an isolate.
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import ivm from "isolated-vm";
import { lazyModuleSource, ownedAndPrivate } from "./prelude-build.ts";

test("lazyModuleSource answers only for listed modules", () => {
  for (const name of ["", "../tr46", "tr46/index.js", "__proto__", "constructor", "toString", "hasOwnProperty", null, 5, {}, ["tr46"]]) {
    assert.equal(lazyModuleSource(name), null, JSON.stringify(name));
  }
});

test("the tr46 module's source evaluates to UTS #46 processing inside an isolate", () => {
  const source = lazyModuleSource("tr46");
  assert.equal(typeof source, "string");
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const context = isolate.createContextSync();
    context.global.setSync("source", source);
    const out = context.evalSync(`(0, eval)(source).toASCII("B\\u00fccher.EXAMPLE", { checkBidi: true, checkJoiners: true })`) as string;
    assert.equal(out, "xn--bcher-kva.example");
  } finally {
    isolate.dispose();
  }
});

test("the encoding module's source evaluates to the full Encoding standard inside an isolate", () => {
  const source = lazyModuleSource("encoding");
  assert.equal(typeof source, "string");
  const isolate = new ivm.Isolate({ memoryLimit: 32 });
  try {
    const context = isolate.createContextSync();
    context.global.setSync("source", source);
    const out = context.evalSync(`new ((0, eval)(source).TextDecoder)("shift_jis").decode(new Uint8Array([0x82, 0xa0]))`) as string;
    assert.equal(out, "\u3042");
  } finally {
    isolate.dispose();
  }
});

test("the prelude cache is used only from a private folder of this user", () => {
  const root = mkdtempSync(join(tmpdir(), "stratus-cache-test-"));
  try {
    const mine = join(root, "mine");
    mkdirSync(mine, { mode: 0o700 });
    assert.equal(ownedAndPrivate(mine), true);
    const open = join(root, "open");
    mkdirSync(open);
    chmodSync(open, 0o777);
    assert.equal(ownedAndPrivate(open), false, "a folder others can write to");
    const link = join(root, "link");
    symlinkSync(mine, link);
    assert.equal(ownedAndPrivate(link), false, "a symlink (another user could point it anywhere)");
    const file = join(root, "file");
    writeFileSync(file, "");
    assert.equal(ownedAndPrivate(file), false, "a file");
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
