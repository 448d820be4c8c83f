/**
 * The bodies of the node API, as zod schemas: the OpenAPI document is made from them, and the CLI's
 * types are generated from that document (src/cli/control-api.gen.ts).
 */
import { z } from "zod";

const Bundle = z.object({ service: z.string(), digest: z.string().describe("sha256 of code, hex"), code: z.string() });
const PlanChange = z.object({
  kind: z.enum(["service", "topic", "stack"]),
  name: z.string(),
  action: z.enum(["add", "change", "remove"]),
  details: z.array(z.string()),
});
const Plan = z.object({ stack: z.string(), changes: z.array(PlanChange), versions: z.record(z.string(), z.string()) });
const Canary = z.object({
  version: z.string(),
  percent: z.number(),
  sticky: z.union([z.object({ header: z.string() }), z.object({ cookie: z.string() }), z.null()]),
  maxErrorRate: z.number(),
  windowMs: z.number(),
  minRequests: z.number(),
  started: z.number(),
});
const Token = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(["admin", "deployer", "reader"]),
  created: z.number(),
  expires: z.number().nullable(),
  revoked: z.number().nullable(),
});
const Loose = z.record(z.string(), z.unknown());

/** Request and response bodies by endpoint ("METHOD /path" with {params}). */
export const API_BODIES = {
  "POST /v1/plan": {
    request: z.object({ yaml: z.string(), bundles: z.array(Bundle.omit({ code: true })) }),
    response: z.object({ plan: Plan, text: z.string() }),
  },
  "POST /v1/apply": {
    request: z.object({ yaml: z.string(), bundles: z.array(Bundle) }),
    response: z.object({ plan: Plan, text: z.string(), outcomes: z.array(Loose) }),
  },
  "POST /v1/services/{name}/deploy": {
    request: z.object({
      yaml: z.string(),
      bundles: z.array(Bundle),
      canary: z
        .union([
          z.number(),
          z.object({
            percent: z.number(),
            stickyHeader: z.string().optional(),
            stickyCookie: z.string().optional(),
            maxErrorRate: z.number().optional(),
            window: z.string().optional(),
            minRequests: z.number().optional(),
          }),
        ])
        .optional(),
    }),
    response: z.object({ plan: Plan, text: z.string(), version: z.string(), canary: Canary.nullable() }),
  },
  "POST /v1/services/{name}/promote": { request: z.object({}), response: z.object({ version: z.string() }) },
  "GET /v1/services/{name}/versions": {
    response: z.object({
      service: z.string(),
      versions: z.array(z.object({ version: z.string(), created: z.number(), digest: z.string(), active: z.boolean() })),
    }),
  },
  "POST /v1/services/{name}/rollback": { request: z.object({ to: z.string().optional() }), response: z.object({ version: z.string(), text: z.string() }) },
  "GET /v1/stack": { response: z.object({ stack: z.string().nullable(), active: z.record(z.string(), z.string()), canaries: z.record(z.string(), Canary) }) },
  "DELETE /v1/stack": { response: z.object({ removed: z.array(z.string()) }) },
  "GET /v1/tokens": { response: z.object({ tokens: z.array(Token) }) },
  "POST /v1/tokens": {
    request: z.object({ name: z.string(), role: z.enum(["admin", "deployer", "reader"]), ttl: z.string().optional() }),
    response: Token.extend({ token: z.string() }),
  },
  "DELETE /v1/tokens/{id}": { response: z.object({ revoked: z.string() }) },
  "GET /v1/secrets": { response: z.object({ secrets: z.array(z.object({ name: z.string(), updated: z.number(), keyId: z.string() })) }) },
  "PUT /v1/secrets/{name}": { request: z.object({ value: z.string() }), response: z.object({ name: z.string() }) },
  "DELETE /v1/secrets/{name}": { response: z.object({ deleted: z.string() }) },
  "POST /v1/secrets/rotate": { request: z.object({}), response: z.object({ keyId: z.string() }) },
  "GET /v1/audit": {
    response: z.object({ entries: z.array(z.object({ id: z.number(), at: z.number(), actor: z.string(), action: z.string(), detail: Loose })) }),
  },
  "GET /v1/logs": { response: z.object({ lines: z.array(Loose) }) },
  "GET /v1/status": { response: z.object({ stack: z.string(), services: z.array(Loose) }) },
} as const satisfies Record<string, { request?: z.ZodType; response: z.ZodType }>;
