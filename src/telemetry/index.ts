/** Logging and metrics (traces come later). */
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.ts";
export { Metrics, aggregateMetrics, serviceFigures, type GaugeSource, type MetricsJson, type ServiceFigures } from "./metrics.ts";
export { LogBuffer, type LogBufferOptions } from "./log-buffer.ts";
export { CONSOLE_LIMITS, ConsoleLimiter, truncateLine, type ConsoleLimits } from "./console-limit.ts";
export { Redactor, secretRedactor, secretForms, REDACTED } from "./redact.ts";
