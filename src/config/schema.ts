/**
 * The stratus.yaml schema (zod). The shape is a public contract: fields may be added, never renamed.
 * Each field's description is exported into the JSON Schema that editors use.
 */
import { z } from "zod";

/**
 * Upper bounds of `scale` and `limits`: past them a deploy would exhaust the worker (a thousand warm
 * isolates per process, a request that may hold an instance for hours) rather than serve.
 */
export const SCALE_MAX = {
  /** Warm instances per worker process. */
  min: 100,
  /** Instances on the node. */
  max: 1000,
  /** In-flight invocations per instance. */
  concurrency: 1000,
  /** Requests waiting for an instance. */
  queue: 10_000,
  /** limits.timeout in ms (15 minutes). */
  timeoutMs: 15 * 60_000,
  /** limits.cpu in ms (5 minutes). */
  cpuMs: 5 * 60_000,
} as const;

/**
 * The default `scale.concurrency`: many requests per instance, as Workers runs them. Chosen from
 * bench/concurrency.ts (docs/stack-file.md says why): it is where a hello world stops gaining, it
 * matches the event batch size (64 events cross into an instance together), and it bounds how many
 * requests one instance's fault (limits.cpu, limits.memory) can fail at once.
 */
export const DEFAULT_CONCURRENCY = 64;

/** A duration: milliseconds as a number, or a string such as "500ms", "10s", "2m". */
export const Duration = z
  .union([
    z.number().int().nonnegative(),
    z.string().regex(/^\d+(\.\d+)?(ms|s|m|h|d)$/, { message: 'write a duration such as "500ms", "10s", "2m" or "7d" (or milliseconds as a number)' }),
  ])
  .describe('A duration: milliseconds as a number, or a string such as "500ms", "10s", "2m", "1h", "7d".');

/** A size: bytes as a number, or a string such as "512kb", "1mb", "1gb". */
export const Size = z
  .union([
    z.number().int().positive(),
    z.string().regex(/^\d+(kb|mb|gb|b)$/i, { message: 'write a size such as "512kb", "1mb" or "1gb" (or bytes as a number)' }),
  ])
  .describe('A size: bytes as a number, or a string such as "512kb", "1mb", "1gb".');

const ROUTE_RE =
  /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS|ANY) (\/(?:[A-Za-z0-9._~\-]+|:[A-Za-z_][A-Za-z0-9_]*)?(?:\/(?:[A-Za-z0-9._~\-]+|:[A-Za-z_][A-Za-z0-9_]*))*(?:\/\*)?|\/\*)$/;

/** "METHOD /path": METHOD is GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS or ANY; `:name` is a path parameter; a trailing `*` matches the rest. */
export const Route = z
  .string()
  .regex(ROUTE_RE, {
    message:
      'a route is "METHOD /path" with METHOD one of GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS, ANY; path segments are literals or :params, and only the last may be *, e.g. "GET /orders/:id"',
  })
  .describe('"METHOD /path", e.g. "GET /orders/:id", "POST /orders", "ANY /webhooks/*".');

const Hostname = z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$/, { message: 'a host name such as "api.example.com", "*.example.com" or "127.0.0.1:9000"' });

/** A topic name: letters, digits, ".", "-", "_", e.g. "order.created". */
export const Topic = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/, {
    message: 'a topic is letters, digits, ".", "-" and "_", starting with a letter or digit, e.g. "order.created"',
  })
  .describe('A topic name, e.g. "order.created".');

/** How one service consumes one topic. */
export const Subscription = z.strictObject({
  maxAttempts: z.number().int().min(1).max(100).default(5).describe("Deliveries before the event goes to the dead-letter store (default 5)."),
  backoff: z
    .strictObject({
      initial: Duration.default("1s").describe("Wait before the second attempt (default 1s); doubles each attempt, with jitter."),
      max: Duration.default("5m").describe("Longest wait between attempts (default 5m)."),
    })
    .prefault({})
    .describe("Exponential backoff between attempts, with full jitter between half and all of the wait."),
  deadLetter: z
    .boolean()
    .default(true)
    .describe("Keep events that used up their attempts in the dead-letter store (default true); false drops them with a log line."),
  ordering: z
    .enum(["none", "key"])
    .default("none")
    .describe('"key": events with the same key are handled one at a time, in publish order (different keys in parallel). "none" (default): any order.'),
  maxConcurrency: z.number().int().min(1).max(10000).default(64).describe("Events of this subscription being handled at once, node-wide (default 64)."),
  startAt: z
    .enum(["latest", "earliest"])
    .default("latest")
    .describe('Where a new subscription starts: "latest" (events published from now on, the default) or "earliest" (every retained event).'),
});

/** A cron schedule that runs the service's scheduled() handler. */
export const Schedule = z.strictObject({
  cron: z.string().min(1).describe('A cron expression: five fields (minute hour day month weekday) or six with seconds first, e.g. "*/5 * * * *".'),
  timezone: z.string().min(1).optional().describe('An IANA time zone the expression is read in, e.g. "Europe/Berlin" (default UTC).'),
});

const empty = z.strictObject({}).describe("No options yet.");

/** One capability granted to a service, under the binding name it gets in `env`. */
export const Binding = z.union([
  z.strictObject({ kv: empty.describe("This service's own KV namespace.") }),
  z.strictObject({ sql: empty.describe("This service's own SQL database (SQLite).") }),
  z.strictObject({ service: z.string().min(1).describe("The name of a service this one may call with env.X.fetch().") }),
  z.strictObject({ publish: z.array(Topic).min(1).describe("Topics this service may publish to with env.X.publish(topic, data, { key, id }).") }),
  z.strictObject({
    secret: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, { message: "a secret name is letters, digits and _, e.g. STRIPE_KEY" })
      .describe('A secret whose value env.X holds (set with "stratus secrets set NAME" on a node; STRATUS_SECRET_NAME in the environment under stratus dev).'),
  }),
  z.strictObject({ egress: z.array(Hostname).min(1).describe("Hosts fetch() may reach through this binding (and through the global fetch).") }),
]);

const BINDING_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** Everything one service declares. */
export const Service = z.strictObject({
  entry: z.string().min(1).describe("The service's entry module, relative to stratus.yaml."),
  runtime: z.enum(["isolate"]).default("isolate").describe('How the service runs. "isolate": a V8 isolate (the default; the only runtime in this release).'),
  routes: z.array(Route).default([]).describe("HTTP routes the gateway sends to this service."),
  bindings: z
    .record(z.string().regex(BINDING_NAME, { message: "a binding name must be a JavaScript identifier, e.g. ORDERS" }), Binding)
    .default({})
    .describe("Capabilities in env, keyed by binding name. Nothing else is reachable from the sandbox."),
  vars: z
    .record(
      z.string().regex(BINDING_NAME, { message: "a var name must be a JavaScript identifier, e.g. CURRENCY" }),
      z.union([z.string(), z.number(), z.boolean()]),
    )
    .default({})
    .describe("Plain values in env."),
  scale: z
    .strictObject({
      min: z
        .number()
        .int()
        .nonnegative()
        .max(SCALE_MAX.min)
        .default(0)
        .describe(`Instances kept warm in each worker process (default 0: scale to zero; at most ${SCALE_MAX.min}).`),
      max: z
        .number()
        .int()
        .positive()
        .max(SCALE_MAX.max)
        .default(10)
        .describe(`Most instances on the node, all worker processes together (default 10; at most ${SCALE_MAX.max}).`),
      concurrency: z
        .number()
        .int()
        .positive()
        .max(SCALE_MAX.concurrency)
        .default(DEFAULT_CONCURRENCY)
        .describe(
          `In-flight invocations per instance (default ${DEFAULT_CONCURRENCY}, as Workers: an isolate serves many requests at once; 1 gives each request an isolate of its own; at most ${SCALE_MAX.concurrency}).`,
        ),
      idleTimeout: Duration.default("30s").describe("Idle time before an instance is released (default 30s)."),
      queue: z
        .number()
        .int()
        .nonnegative()
        .max(SCALE_MAX.queue)
        .default(100)
        .describe(`Requests that may wait for an instance before 429 (default 100; at most ${SCALE_MAX.queue}).`),
    })
    .prefault({})
    .describe("Scaling of this service's instance pool."),
  limits: z
    .strictObject({
      memory: z.number().int().min(8).max(4096).default(128).describe("Heap limit per instance in MB (default 128, at least 8)."),
      timeout: Duration.default("10s").describe("Wall-time limit per invocation (default 10s; at most 15m)."),
      cpu: Duration.default("1s").describe(
        "CPU time an instance may spend without finishing a request (default 1s, at most 5m; exactly per request at concurrency 1); past it the instance is replaced.",
      ),
      storage: Size.default("1gb").describe(
        "Bytes all of this service's KV and SQL bindings may hold together (default 1gb); a write past it fails with STRATUS_E_STORAGE_QUOTA.",
      ),
    })
    .prefault({})
    .describe("Per-instance and per-invocation limits."),
  subscribe: z
    .record(Topic, z.union([Subscription, z.null().transform(() => Subscription.parse({}))]))
    .default({})
    .describe("Topics this service's event() handler receives, each with its retry policy."),
  schedules: z.array(Schedule).default([]).describe("Cron schedules that run this service's scheduled() handler."),
  async: z
    .strictObject({
      maxAttempts: z
        .number()
        .int()
        .min(1)
        .max(100)
        .default(3)
        .describe("Attempts of an async invocation (Prefer: respond-async) before it fails into the dead-letter store (default 3)."),
    })
    .prefault({})
    .describe("Asynchronous invocations of this service's routes."),
});

/** The whole stack file. */
export const StackFile = z.strictObject({
  $schema: z.string().optional().describe("Path or URL of this JSON Schema, for editors."),
  name: z
    .string()
    .regex(/^[a-z][a-z0-9-]*$/, { message: 'a stack name is lowercase letters, digits and "-", starting with a letter, e.g. "shop"' })
    .describe("The stack's name."),
  gateway: z
    .strictObject({
      maxBodySize: Size.default("1mb").describe('Largest request body the gateway accepts (default "1mb").'),
    })
    .prefault({})
    .describe("HTTP gateway settings."),
  topics: z
    .record(
      Topic,
      z.union([
        z.strictObject({
          ingest: z.boolean().default(false).describe("Accept CloudEvents for this topic from outside, on POST /_stratus/events (default false)."),
          retention: Duration.default("7d").describe("How long events are kept for replay (default 7d); an event id is deduplicated for as long."),
        }),
        z.null().transform(() => ({ ingest: false, retention: "7d" as const })),
      ]),
    )
    .default({})
    .describe("Topics of this stack. A topic also exists when a service is granted publish to it."),
  services: z
    .record(
      z.string().regex(/^[a-z][a-z0-9-]*$/, { message: 'a service name is lowercase letters, digits and "-", starting with a letter, e.g. "orders"' }),
      Service,
    )
    .refine((s) => Object.keys(s).length > 0, { message: "a stack needs at least one service" })
    .describe("The services of this stack, keyed by name."),
});

/** The stack file as written (before defaults). */
export type StackFileInput = z.input<typeof StackFile>;
/** The stack file after defaults. */
export type StackFileParsed = z.output<typeof StackFile>;

/** JSON Schema (draft 2020-12) for editors. */
export function stackJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(StackFile, { io: "input", unrepresentable: "any" }),
    title: "Stratus stack file (stratus.yaml)",
  };
}
