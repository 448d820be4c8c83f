/**
 * The one logger: pino, JSON lines when piped or asked for, pretty lines in a terminal.
 * Library code logs through this and never calls console.
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";
import type { LogBuffer } from "./log-buffer.ts";
import { secretRedactor, type Redactor } from "./redact.ts";

export type { Logger };

/** Bytes of log output that may wait for stdout before further lines are dropped. */
const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** Options of createLogger. */
export interface LoggerOptions {
  /** JSON lines (true), pretty (false), or decide from whether stdout is a terminal (undefined). */
  json?: boolean;
  /** Minimum level (default "info"). */
  level?: string;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
  /** Also keep the JSON lines here (for `stratus logs`). */
  buffer?: LogBuffer;
  /** Redacts secrets from every line, in every encoding (default: the process's secretRedactor). */
  redactor?: Redactor;
}

/** Creates the process logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const json = opts.json ?? !process.stdout.isTTY;
  // Epoch milliseconds: the cheapest timestamp on the per-request path; pretty output shows clock time.
  const redactor = opts.redactor ?? secretRedactor;
  // The one place every line passes, serialised, before any destination (terminal, file, buffer).
  const base = { level: opts.level ?? "info", base: undefined, hooks: { streamWrite: (line: string) => redactor.redact(line) } };
  const out: pino.DestinationStream = json
    ? ((opts.destination as pino.DestinationStream | undefined) ?? batchedStdout())
    : pretty({
        colorize: true,
        sync: true,
        translateTime: "HH:MM:ss.l",
        hideObject: true,
        destination: opts.destination ?? 1,
        messageFormat: prettyLine,
      });
  if (!opts.buffer) return pino(base, out);
  const level = (opts.level ?? "info") as pino.Level;
  return pino(
    base,
    pino.multistream([
      { level, stream: out },
      { level, stream: opts.buffer },
    ]),
  );
}

/** Batched destinations holding lines, written out synchronously if the process exits first. */
const unflushed = new Set<() => void>();
let exitHooked = false;

/**
 * Stdout for JSON lines, written once per turn of the event loop: the lines of one turn (under load,
 * the access lines of a whole batch of replies) go out in one asynchronous write instead of one
 * each, which halves what a line costs (docs/benchmarks.md). Asynchronous stdout buffers while the
 * reader (a terminal, the supervisor's pipe) lags: bounded, so a log flood drops lines instead of
 * growing the process. Lines still pending when the process exits are written synchronously.
 */
function batchedStdout(): pino.DestinationStream & { flush(): void } {
  const out = pino.destination({ dest: 1, sync: false, maxLength: MAX_PENDING_BYTES });
  let pending = "";
  const flush = (): void => {
    unflushed.delete(flushNow);
    if (pending === "") return;
    const chunk = pending;
    pending = "";
    try {
      out.write(chunk);
    } catch {
      // the destination was closed (the process is ending)
    }
  };
  if (!exitHooked) {
    exitHooked = true;
    // Before pino's own exit hook, which flushes and ends the destination.
    process.prependOnceListener("exit", () => {
      for (const f of [...unflushed]) f();
      unflushed.clear();
    });
  }
  const flushNow = (): void => {
    flush();
    try {
      out.flushSync();
    } catch {
      // not ready yet (the file descriptor opens asynchronously) or already closed
    }
  };
  return {
    write(line: string): void {
      // Past the bound, the line is dropped here as the destination would drop it.
      if (pending.length + line.length > MAX_PENDING_BYTES) return;
      pending += line;
      if (unflushed.has(flushNow)) return;
      unflushed.add(flushNow);
      setImmediate(flush);
    },
    flush: flushNow,
  };
}

/**
 * C0 and C1 controls, DEL, and the Unicode line separators and bidi overrides: what a function's
 * text could use to forge a record, move the cursor or send the terminal a command (title,
 * clipboard). Tab is kept; newlines are handled apart.
 */
const UNSAFE = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text safe for the operator's terminal: unsafe characters become visible escapes (`\x1b`,
 * `\u202e`) and every line after the first is indented, so nothing a function prints reads as a
 * record of its own or reaches the terminal as a control sequence.
 */
export function terminalSafe(text: string): string {
  const escaped = text.replace(/\r\n/g, "\n").replace(UNSAFE, (c) => {
    const n = c.charCodeAt(0);
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
  return escaped.replace(/\n/g, "\n    ");
}

/** One terminal line per log record: invocations, console output and notices read differently. */
function prettyLine(log: Record<string, unknown>, messageKey: string): string {
  return terminalSafe(prettyText(log, messageKey));
}

function prettyText(log: Record<string, unknown>, messageKey: string): string {
  const msg = String(log[messageKey] ?? "");
  const id = typeof log["requestId"] === "string" ? ` [${log["requestId"].slice(0, 8)}]` : "";
  const svc = typeof log["service"] === "string" ? `${log["service"]} ` : "";
  if (log["source"] === "console") return `${svc}${msg}${id}`;
  if (typeof log["status"] === "number") {
    const caller = typeof log["caller"] === "string" ? ` (from ${log["caller"]})` : "";
    const code = typeof log["code"] === "string" ? ` ${log["code"]}` : "";
    const detail = typeof log["detail"] === "string" ? `\n${log["detail"]}` : "";
    return `${svc}${msg} ${String(log["durationMs"])}ms${log["cold"] ? " cold" : ""}${caller}${code}${id}${detail}`;
  }
  const extra = Object.entries(log)
    .filter(([k]) => !["level", "time", "service", "requestId", messageKey].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(" ");
  return `${svc}${msg}${extra ? ` (${extra})` : ""}${id}`;
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
