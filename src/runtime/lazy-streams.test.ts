// The Streams standard is materialised in an isolate on first use: a handler that never touches a
// stream does not hold the polyfill (0.35 MB of every instance), one that does gets the standard
// globals as plain properties, and a global the function replaced first stays replaced.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tempStack, type TempStack } from "../../test/helpers/stack.ts";

let s: TempStack;
before(async () => {
  const probe = `const kind = (name) => { const d = Object.getOwnPropertyDescriptor(globalThis, name); return d === undefined ? "absent" : "get" in d ? "not loaded" : typeof d.value + (d.writable && d.configurable && !d.enumerable ? "" : " (odd descriptor)"); };`;
  s = await tempStack({
    "stratus.yaml": `name: t
services:
  plain:
    entry: plain.js
    routes: ["ANY /plain"]
  streaming:
    entry: streaming.js
    routes: ["GET /streaming"]
  replaced:
    entry: replaced.js
    routes: ["GET /replaced"]
`,
    "plain.js": `${probe}
export default { async fetch(request) {
  const body = request.method === "POST" ? await request.text() : "";
  return Response.json({ body, before: kind("ReadableStream"), after: kind("ReadableStream") });
} };`,
    "streaming.js": `${probe}
export default { async fetch() {
  const before = kind("ReadableStream");
  const text = await new Response(new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("streamed")); c.close(); } })).text();
  return Response.json({ before, text, after: kind("ReadableStream"), reader: kind("ReadableStreamDefaultReader"), transform: kind("TransformStream") });
} };`,
    "replaced.js": `${probe}
globalThis.ReadableStream = "mine";
export default { async fetch() {
  const text = await new Blob(["from a blob"]).stream().getReader().read().then((r) => new TextDecoder().decode(r.value));
  const writable = typeof WritableStream;
  return Response.json({ text, mine: globalThis.ReadableStream, writable, after: kind("WritableStream") });
} };`,
  });
});
after(() => s?.close());

test("a handler that never touches a stream leaves the polyfill unloaded", async () => {
  const r = (await (await s.fetch("/plain", { method: "POST", body: "a body read as text" })).json()) as Record<string, string>;
  assert.deepEqual(r, { body: "a body read as text", before: "not loaded", after: "not loaded" });
});

test("the first use loads it: streams work and the globals become plain Web API globals", async () => {
  const r = (await (await s.fetch("/streaming")).json()) as Record<string, string>;
  assert.deepEqual(r, { before: "not loaded", text: "streamed", after: "function", reader: "function", transform: "function" });
});

test("a global the function replaced before the first use stays replaced; the others load", async () => {
  const r = (await (await s.fetch("/replaced")).json()) as Record<string, string>;
  assert.deepEqual(r, { text: "from a blob", mine: "mine", writable: "function", after: "function" });
});
