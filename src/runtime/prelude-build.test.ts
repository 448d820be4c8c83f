// The prelude's lazy modules: the host hands over only the modules it lists, whatever name code
// inside the isolate asks for, and what it hands over runs in an isolate.
import assert from "node:assert/strict";
import { test } from "node:test";
import ivm from "isolated-vm";
import { lazyModuleSource } from "./prelude-build.ts";

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
