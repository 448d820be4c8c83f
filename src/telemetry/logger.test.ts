// Pretty log output in the operator's terminal: what a function prints cannot forge records or
// send the terminal control sequences.
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "./logger.ts";

function prettyOutput(log: (logger: ReturnType<typeof createLogger>) => void): string {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString("utf8"));
      cb();
    },
  });
  const logger = createLogger({ json: false, destination });
  log(logger);
  logger.flush();
  return chunks.join("");
}

// The attack text of the finding: a forged record for another service, a window title (OSC 0)
// and a clipboard write (OSC 52).
const ATTACK =
  "hello\n07:20:00.000 \u001b[32mINFO\u001b[39m: orders GET /orders 200 1.2ms [deadbeef]\u001b]0;PWNED-TITLE\u0007\u001b]52;c;ZWNobyBwd25lZA==\u0007\r\u009b2J\u202e";

test("a function's console text reaches the pretty terminal output escaped, its newlines as indented continuations", () => {
  const out = prettyOutput((l) => l.info({ source: "console", service: "logx", requestId: "b30a725c1234" }, ATTACK));
  assert.doesNotMatch(out, /\u001b\]/, "an OSC sequence reached the terminal");
  assert.doesNotMatch(out, /[\u0007\r\u009b\u202e]/);
  assert.match(out, /\\x1b\]52;c;ZWNobyBwd25lZA==\\x07/);
  const lines = out.split("\n").filter((l) => l !== "");
  assert.equal(lines.length, 2, out);
  assert.match(lines[1]!, /^ {4}07:20:00\.000 \\x1b\[32mINFO/, "the forged record is an indented continuation");
});

test("every field of an invocation line is escaped: path, caller, code and error detail", () => {
  const out = prettyOutput((l) =>
    l.info(
      { service: "svc", status: 500, durationMs: 1, code: "STRATUS_E_HANDLER_THREW", caller: "a\u001b]0;T\u0007", detail: "Error: x\u001b[2J\n    at f" },
      "GET /p\u001b]0;title\u0007 500",
    ),
  );
  // pino-pretty's own colours are the only escape sequences left: none opens an OSC or clears the screen.
  assert.doesNotMatch(out, /\u001b\]|\u001b\[2J|\u0007/);
  assert.match(out, /\\x1b\]0;title\\x07/);
  assert.match(out, /\n {4} {4}at f/);
});
