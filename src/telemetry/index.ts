/** Logging (and, later, metrics and traces). */
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.ts";
