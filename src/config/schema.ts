/**
 * The stratus.yaml schema (zod). The shape is a public contract: fields may be added, never renamed.
 * Each field's description is exported into the JSON Schema that editors use.
 */
import { z } from "zod";

/** A duration: milliseconds as a number, or a string such as "500ms", "10s", "2m". */
export const Duration = z
  .union([
    z.number().int().nonnegative(),
    z.string().regex(/^\d+(\.\d+)?(ms|s|m|h)$/, { message: 'write a duration such as "500ms", "10s" or "2m" (or milliseconds as a number)' }),
  ])
  .describe('A duration: milliseconds as a number, or a string such as "500ms", "10s", "2m", "1h".');

/** A size: bytes as a number, or a string such as "512kb", "1mb". */
export const Size = z
  .union([z.number().int().positive(), z.string().regex(/^\d+(kb|mb|b)$/i, { message: 'write a size such as "512kb" or "1mb" (or bytes as a number)' })])
  .describe('A size: bytes as a number, or a string such as "512kb", "1mb".');

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

const empty = z.strictObject({}).describe("No options yet.");

/** One capability granted to a service, under the binding name it gets in `env`. */
export const Binding = z.union([
  z.strictObject({ kv: empty.describe("This service's own KV namespace.") }),
  z.strictObject({ sql: empty.describe("This service's own SQL database (SQLite).") }),
  z.strictObject({ service: z.string().min(1).describe("The name of a service this one may call with env.X.fetch().") }),
  z.strictObject({ publish: z.array(z.string().min(1)).describe("Topics this service may publish to (events come with a later release).") }),
  z.strictObject({ secret: z.string().min(1).describe("The name of a secret whose value this binding holds (secrets come with a later release).") }),
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
      min: z.number().int().nonnegative().default(0).describe("Instances kept warm in each worker process (default 0: scale to zero)."),
      max: z.number().int().positive().default(10).describe("Most instances on the node, all worker processes together (default 10)."),
      concurrency: z.number().int().positive().default(1).describe("In-flight invocations per instance (default 1)."),
      idleTimeout: Duration.default("30s").describe("Idle time before an instance is released (default 30s)."),
      queue: z.number().int().nonnegative().default(100).describe("Requests that may wait for an instance before 429 (default 100)."),
    })
    .prefault({})
    .describe("Scaling of this service's instance pool."),
  limits: z
    .strictObject({
      memory: z.number().int().min(8).max(4096).default(128).describe("Heap limit per instance in MB (default 128, at least 8)."),
      timeout: Duration.default("10s").describe("Wall-time limit per invocation (default 10s)."),
      cpu: Duration.default("1s").describe(
        "CPU time an instance may spend without finishing a request (default 1s; exactly per request at concurrency 1); past it the instance is replaced.",
      ),
    })
    .prefault({})
    .describe("Per-instance and per-invocation limits."),
  subscribe: z.record(z.string(), z.record(z.string(), z.unknown())).optional().describe("Topic subscriptions (events come with a later release)."),
  schedules: z.array(z.record(z.string(), z.unknown())).optional().describe("Cron schedules (come with a later release)."),
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
