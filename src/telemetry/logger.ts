/**
 * The one logger: pino, JSON lines when piped or asked for, pretty lines in a terminal.
 * Library code logs through this and never calls console.
 */
import pino, { type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/** Options of createLogger. */
export interface LoggerOptions {
  /** JSON lines (true), pretty (false), or decide from whether stdout is a terminal (undefined). */
  json?: boolean;
  /** Minimum level (default "info"). */
  level?: string;
  /** Where lines go (default stdout). */
  destination?: NodeJS.WritableStream;
}

/** Creates the process logger. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const json = opts.json ?? !process.stdout.isTTY;
  const base = { level: opts.level ?? "info", base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (json) return pino(base, opts.destination ?? pino.destination({ dest: 1, sync: false }));
  return pino(
    base,
    pretty({
      colorize: true,
      sync: true,
      translateTime: "HH:MM:ss.l",
      ignore: "pid,hostname",
      destination: opts.destination ?? 1,
      messageFormat: "{if service}{service} {end}{msg}",
    }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
