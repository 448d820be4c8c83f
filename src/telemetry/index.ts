/** Logging and metrics (traces come later). */
export { createLogger, silentLogger, type Logger, type LoggerOptions } from "./logger.ts";
export { Metrics, aggregateMetrics, serviceFigures, type GaugeSource, type MetricsJson, type ServiceFigures } from "./metrics.ts";
export { LogBuffer } from "./log-buffer.ts";
export { Redactor, secretRedactor, secretForms, REDACTED } from "./redact.ts";
