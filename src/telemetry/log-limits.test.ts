// The caps on console output: line length, per-instance rate, and the log buffer's size.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ConsoleLimiter, truncateLine } from "./console-limit.ts";
import { LogBuffer } from "./log-buffer.ts";

const LIMITS = { maxLineChars: 10, linesPerSecond: 2, charsPerSecond: 1000, burstSeconds: 1 };

test("a line over the maximum is cut, with a marker saying how much", () => {
  assert.equal(truncateLine("short", 10), "short");
  const cut = truncateLine("x".repeat(25), 10);
  assert.ok(cut.startsWith(`${"x".repeat(10)}… [line truncated: 15 more characters`));
});

test("past its budget an instance's lines are dropped and counted, and the count is reported once", () => {
  let now = 0;
  const l = new ConsoleLimiter(LIMITS, () => now);
  assert.equal(l.admit("a"), "a");
  assert.equal(l.admit("b"), "b");
  assert.equal(l.admit("c"), null);
  assert.equal(l.admit("d"), null);
  assert.equal(l.dropped, 2);
  now += 1000;
  assert.equal(l.admit("x".repeat(30)), `${"x".repeat(10)}… [line truncated: 20 more characters; console lines are cut at 10]`);
  assert.match(l.flush() ?? "", /^2 console lines dropped: this instance logged more than 2 lines or 1000 characters per second$/);
  assert.equal(l.flush(), null);
});

test("the character budget bounds long lines as well as the line count", () => {
  let now = 0;
  const l = new ConsoleLimiter({ ...LIMITS, maxLineChars: 1000, linesPerSecond: 100, charsPerSecond: 50 }, () => now);
  assert.notEqual(l.admit("y".repeat(40)), null);
  assert.equal(l.admit("y".repeat(40)), null);
  now += 1000;
  assert.notEqual(l.admit("y".repeat(40)), null);
});

test("the log buffer is bounded in characters as well as lines, oldest lines going first", () => {
  const b = new LogBuffer({ maxLines: 1000, maxChars: 10_000, maxLineChars: 5000 });
  for (let i = 0; i < 100; i++) b.write(`${JSON.stringify({ time: i, msg: "z".repeat(900) })}\n`);
  assert.ok(b.size.chars <= 10_000);
  const recs = b.read();
  assert.ok(recs.length > 0 && recs.length < 100);
  assert.equal(recs.at(-1)!["time"], 99);
});

test("a log record over the line cap is kept as valid JSON with its message cut", () => {
  const b = new LogBuffer({ maxLineChars: 2000 });
  b.write(JSON.stringify({ level: 30, time: 1, service: "s", msg: "m".repeat(1_000_000) }));
  const [rec] = b.read();
  assert.equal(rec!["service"], "s");
  assert.match(String(rec!["msg"]), /… \[log record truncated: it was \d+ characters\]$/);
  assert.ok(b.size.chars <= 2000);
});
