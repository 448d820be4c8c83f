// A console flood from inside an isolate: 1 MiB lines and tens of thousands of short ones reach
// the process log cut to length, with a note on what was dropped, and the buffer stays bounded.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { startStack } from "../src/testing/index.ts";
import { createLogger, LogBuffer } from "../src/telemetry/index.ts";
import { tempProject } from "./helpers/project.ts";

test("console lines are cut at 16 KiB and an instance's flood is dropped with a counted note", async () => {
  const project = tempProject({
    "stratus.yaml": `name: flood\nservices:\n  chatty:\n    entry: chatty.ts\n    routes: ["GET /*"]\n`,
    "chatty.ts": `
export default {
  async fetch(): Promise<Response> {
    const line = "x".repeat(1024 * 1024);
    for (let i = 0; i < 300; i++) console.log(line);
    for (let i = 0; i < 20000; i++) console.log("short line", i);
    // Lets the budget refill a little, so the next line goes out with the count of those dropped.
    await new Promise((r) => setTimeout(r, 50));
    console.log("after the flood");
    return new Response("logged");
  },
};`,
  });
  const logs = new LogBuffer();
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const s = await startStack(project.dir, { logger: createLogger({ json: true, destination: sink, buffer: logs }) });
  try {
    assert.equal(await (await s.fetch("/")).text(), "logged");
    const lines = logs.read({ service: "chatty" }).map((r) => String(r["msg"]));
    const long = lines.filter((m) => m.startsWith("xxxx"));
    assert.ok(long.length > 0);
    for (const m of long) {
      // Compared by length and tail, so a failure does not print a megabyte.
      assert.equal(m.length - m.indexOf("…"), "… [line truncated: 1032192 more characters; console lines are cut at 16384]".length, m.slice(16300, 16500));
      assert.equal(m.slice(16384), "… [line truncated: 1032192 more characters; console lines are cut at 16384]", m.slice(16300, 16500));
    }
    assert.ok(lines.some((m) => /console output is over this instance's limit/.test(m)));
    // Every line the function logged either reached the log or is counted in the note.
    const notes = lines.filter((m) => /^\d+ console lines? dropped/.test(m));
    assert.ok(notes.length > 0, "a note with the count of dropped lines");
    const dropped = notes.reduce((n, m) => n + Number(m.split(" ")[0]), 0);
    const logged = lines.filter((m) => m.startsWith("xxxx") || m.startsWith("short line")).length;
    assert.equal(logged + dropped, 20_300);
    assert.ok(logged < 5000);
    assert.ok(lines.includes("after the flood"));
    assert.ok(logs.size.chars <= 8 * 1024 * 1024);
  } finally {
    await s.close();
    project.remove();
  }
});
