/**
 * The control API of `stratus start`: every endpoint needs a bearer token with a role (admin >
 * deployer > reader). The route table below is the one source of truth: the server dispatches
 * from it and the OpenAPI document (GET /v1/openapi.json, docs/control-api.openapi.json) is made
 * from it, so the two cannot drift.
 */
import { createServer, type Server } from "node:http";
import {
  answerClientError,
  ControlServer,
  closeControl,
  decodeSegment,
  listenControl,
  parseTarget,
  printable,
  readJsonObject,
  refuseBrowserRequest,
  sendReply,
  type ControlReply,
} from "../control/index.ts";
import { errorReply, StratusError } from "../errors/index.ts";
import { authorize, formatPlan, ROLES, type Role, type TokenInfo } from "../registry/index.ts";
import { z } from "zod";
import { API_BODIES } from "./api-schema.ts";
import { STACK_LIMITS } from "./stack-limits.ts";
import type { CanaryOptions, NodeServer, Upload } from "./node-server.ts";

/** Request body limits: an apply or deploy carries bundles; a plan only digests; the rest are small. */
const MAX_BODY = { upload: 64 * 1024 * 1024, plan: 4 * 1024 * 1024, other: 1024 * 1024 } as const;

/** One endpoint: method, path pattern (`:name` segments), the least role, what it does. */
interface Route {
  method: "GET" | "POST" | "PUT" | "DELETE";
  path: string;
  role: Role;
  summary: string;
  /** Largest request body, in bytes (default MAX_BODY.other). */
  maxBody?: number;
  run: (ctx: { params: Record<string, string>; body: unknown; url: URL; token: TokenInfo }) => Promise<ControlReply>;
}

function json(status: number, value: unknown): ControlReply {
  return { status, type: "application/json", body: JSON.stringify(value) };
}

function str(body: unknown, key: string, what: string): string {
  const v = (body as Record<string, unknown> | undefined)?.[key];
  if (typeof v !== "string" || v === "") throw new StratusError("STRATUS_E_CLI_USAGE", `the request needs "${key}" (${what})`);
  return v;
}

function digests(body: unknown): { service: string; digest: string }[] {
  const list = (body as { bundles?: unknown }).bundles;
  if (!Array.isArray(list)) throw new StratusError("STRATUS_E_CLI_USAGE", 'the request needs "bundles": [{ service, digest, code }]');
  if (list.length > STACK_LIMITS.services) {
    throw new StratusError("STRATUS_E_STACK_TOO_LARGE", `the request has ${list.length} bundles, over the limit of ${STACK_LIMITS.services} (one per service)`);
  }
  return list.map((b: unknown) => {
    const o = (typeof b === "object" && b !== null ? b : {}) as Record<string, unknown>;
    if (typeof o["service"] !== "string" || typeof o["digest"] !== "string") {
      throw new StratusError("STRATUS_E_CLI_USAGE", "each bundle needs service and digest");
    }
    return { service: o["service"], digest: o["digest"] };
  });
}

function uploads(body: unknown): Upload[] {
  const list = (body as { bundles: unknown[] }).bundles;
  return digests(body).map((d, i) => {
    const code = (list[i] as Record<string, unknown>)["code"];
    if (typeof code !== "string") throw new StratusError("STRATUS_E_CLI_USAGE", `the bundle of "${d.service}" has no code`);
    return { ...d, code };
  });
}

const DURATION = /^(\d+)(s|m|h|d)$/;

function durationMs(v: unknown, what: string): number {
  const m = typeof v === "string" ? DURATION.exec(v) : null;
  if (typeof v === "number" && Number.isInteger(v) && v > 0) return v;
  if (!m) throw new StratusError("STRATUS_E_CLI_USAGE", `${what} must be like "30s", "5m" or "1h", got ${JSON.stringify(v)}`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"];
}

/** The canary options of a deploy request, or undefined for a plain deploy. */
function canaryOptions(body: unknown): CanaryOptions | undefined {
  const c = (body as { canary?: unknown }).canary;
  if (c === undefined || c === null) return undefined;
  const o = (typeof c === "number" ? { percent: c } : c) as Record<string, unknown>;
  const percent = Number(o["percent"]);
  if (!(percent > 0 && percent < 100))
    throw new StratusError("STRATUS_E_CLI_USAGE", `canary percent must be between 0 and 100 (exclusive), got ${JSON.stringify(o["percent"])}`);
  const maxErrorRate = o["maxErrorRate"] === undefined ? 0.05 : Number(o["maxErrorRate"]);
  if (!(maxErrorRate >= 0 && maxErrorRate < 1))
    throw new StratusError("STRATUS_E_CLI_USAGE", `maxErrorRate must be a fraction from 0 to 1, e.g. 0.05, got ${JSON.stringify(o["maxErrorRate"])}`);
  const minRequests = o["minRequests"] === undefined ? 20 : Number(o["minRequests"]);
  if (!Number.isInteger(minRequests) || minRequests < 1) throw new StratusError("STRATUS_E_CLI_USAGE", "minRequests must be a whole number of at least 1");
  const sticky = o["stickyHeader"] ? { header: String(o["stickyHeader"]) } : o["stickyCookie"] ? { cookie: String(o["stickyCookie"]) } : null;
  return { percent, sticky, maxErrorRate, minRequests, windowMs: o["window"] === undefined ? 60_000 : durationMs(o["window"], "window") };
}

/** The routes of the node API. */
function routes(node: NodeServer, control: ControlServer): Route[] {
  // A canary with the figures its last check judged (null until the first check).
  const canaryOf = (service: string): Record<string, unknown> | null => {
    const c = node.canaries()[service];
    return c ? { ...c, window: node.canaryWindows()[service] ?? null } : null;
  };
  const shared = (method: Route["method"], path: string, role: Role, summary: string): Route => ({
    method,
    path,
    role,
    summary,
    run: ({ url, body }) => control.handle(method, url, body),
  });
  return [
    shared("GET", "/metrics", "reader", "Prometheus metrics, summed over worker processes"),
    shared("GET", "/v1/status", "reader", "Per-service instances, in-flight, queued, invocations, errors, cold starts"),
    shared("GET", "/v1/events/subscriptions", "reader", "Subscriptions: cursor, lag, retries, dead letters"),
    shared("POST", "/v1/events/topics/:topic", "deployer", "Publish an event"),
    shared("GET", "/v1/events/topics/:topic", "reader", "Events of a topic after an offset"),
    shared("GET", "/v1/events/subscriptions/:name/dead", "reader", "Dead letters of a subscription"),
    shared("POST", "/v1/events/subscriptions/:name/redrive", "deployer", "Redrive dead letters"),
    shared("POST", "/v1/events/subscriptions/:name/replay", "deployer", "Replay a subscription from an offset or time"),
    shared("GET", "/v1/invocations/:id", "reader", "An async invocation's state and result"),
    {
      method: "GET",
      path: "/v1/openapi.json",
      role: "reader",
      summary: "This API, as OpenAPI 3.1",
      run: () => Promise.resolve(json(200, openapi())),
    },
    {
      method: "POST",
      path: "/v1/plan",
      role: "deployer",
      maxBody: MAX_BODY.plan,
      summary: "What applying a stack file with bundles of these digests would change",
      run: async ({ body }) => {
        const plan = await node.plan(str(body, "yaml", "the stack file"), digests(body));
        return json(200, { plan, text: formatPlan(plan) });
      },
    },
    {
      method: "POST",
      path: "/v1/apply",
      role: "deployer",
      maxBody: MAX_BODY.upload,
      summary: "Apply a stack file with every service's bundle: all or nothing",
      run: async ({ body, token }) => {
        const r = await node.apply(str(body, "yaml", "the stack file"), uploads(body), token.name);
        return json(200, { plan: r.plan, text: formatPlan(r.plan), outcomes: r.outcomes });
      },
    },
    {
      method: "POST",
      path: "/v1/services/:name/deploy",
      role: "deployer",
      maxBody: MAX_BODY.upload,
      summary: "Deploy one service's bundle and config; the other services stay as they run",
      run: async ({ params, body, token }) => {
        const [u] = uploads(body);
        if (!u) throw new StratusError("STRATUS_E_CLI_USAGE", "send one bundle");
        const r = await node.deploy(params["name"]!, str(body, "yaml", "the stack file"), u, token.name, canaryOptions(body));
        return json(200, {
          plan: r.plan,
          text: formatPlan(r.plan),
          version: r.plan.versions[params["name"]!],
          canary: canaryOf(params["name"]!),
        });
      },
    },
    {
      method: "POST",
      path: "/v1/services/:name/promote",
      role: "deployer",
      summary: "Make the canary's version the active one for all requests",
      run: async ({ params, token }) => {
        const r = await node.promote(params["name"]!, token.name);
        return json(200, { version: r.plan.versions[params["name"]!] });
      },
    },
    {
      method: "GET",
      path: "/v1/services/:name/versions",
      role: "reader",
      summary: "Versions of a service, newest first",
      run: async ({ params }) => json(200, { service: params["name"], versions: await node.versions(params["name"]!) }),
    },
    {
      method: "POST",
      path: "/v1/services/:name/rollback",
      role: "deployer",
      summary: "Make the previous (or a given) version active again",
      run: async ({ params, body, token }) => {
        const to = (body as { to?: unknown }).to;
        const r = await node.rollback(params["name"]!, typeof to === "string" ? to : undefined, token.name);
        return json(200, { version: r.plan.versions[params["name"]!], text: formatPlan(r.plan) });
      },
    },
    {
      method: "GET",
      path: "/v1/stack",
      role: "reader",
      summary: "The stack the node runs and the active version of each service",
      run: () =>
        Promise.resolve(
          json(
            200,
            node.running
              ? {
                  stack: node.running.stack.name,
                  active: node.running.active,
                  canaries: Object.fromEntries(Object.keys(node.canaries()).map((s) => [s, canaryOf(s)])),
                }
              : { stack: null, active: {}, canaries: {} },
          ),
        ),
    },
    {
      method: "DELETE",
      path: "/v1/stack",
      role: "admin",
      summary: "Remove every service of the stack (destroy)",
      run: async ({ token }) => json(200, await node.destroy(token.name)),
    },
    {
      method: "GET",
      path: "/v1/tokens",
      role: "admin",
      summary: "Tokens (never their secret part)",
      run: async () => json(200, { tokens: await node.registry.tokens() }),
    },
    {
      method: "POST",
      path: "/v1/tokens",
      role: "admin",
      summary: "Create a token: { name, role, ttl? } (the token is in this answer only)",
      run: async ({ body, token }) => {
        const role = str(body, "role", ROLES.join(" | ")) as Role;
        const ttl = (body as { ttl?: unknown }).ttl;
        let ttlMs: number | null = null;
        if (ttl !== undefined) {
          // A string only: a bare number of milliseconds is too easy to mistake for days.
          if (typeof ttl !== "string") throw new StratusError("STRATUS_E_CLI_USAGE", `ttl must be like "30d", "12h" or "90m", got ${JSON.stringify(ttl)}`);
          ttlMs = durationMs(ttl, "ttl");
        }
        const t = await node.createToken(str(body, "name", "a name for the token"), role, ttlMs, token.name);
        return json(201, { token: t.token, ...t.info });
      },
    },
    {
      method: "DELETE",
      path: "/v1/tokens/:id",
      role: "admin",
      summary: "Revoke a token",
      run: async ({ params, token }) => {
        await node.revokeToken(params["id"]!, token.name);
        return json(200, { revoked: params["id"] });
      },
    },
    {
      method: "GET",
      path: "/v1/secrets",
      role: "reader",
      summary: "Secret names and when they were set (never values)",
      run: async () => json(200, { secrets: (await node.registry.secrets()).map((s) => ({ name: s.name, updated: s.updated, keyId: s.keyId })) }),
    },
    {
      method: "PUT",
      path: "/v1/secrets/:name",
      role: "deployer",
      summary: "Set a secret: { value }",
      run: async ({ params, body, token }) => {
        const value = (body as { value?: unknown }).value;
        if (typeof value !== "string") throw new StratusError("STRATUS_E_SECRETS", 'send { "value": "..." }');
        await node.setSecret(params["name"]!, value, token.name);
        return json(200, { name: params["name"] });
      },
    },
    {
      method: "DELETE",
      path: "/v1/secrets/:name",
      role: "admin",
      summary: "Delete a secret no running service uses",
      run: async ({ params, token }) => {
        await node.deleteSecret(params["name"]!, token.name);
        return json(200, { deleted: params["name"] });
      },
    },
    {
      method: "POST",
      path: "/v1/secrets/rotate",
      role: "admin",
      summary: "Rotate the master key (key-file mode) and re-encrypt every secret",
      run: async ({ token }) => {
        const k = await node.rotateMasterKey(token.name);
        return json(200, { keyId: k.id });
      },
    },
    {
      method: "GET",
      path: "/v1/logs",
      role: "reader",
      summary: "Recent log lines of the node and its workers: ?service=&since=<epoch ms>&limit=",
      run: async ({ url }) => {
        const q = url.searchParams;
        const since = q.get("since");
        const service = q.get("service");
        const lines = await node.logs({
          ...(since !== null ? { since: Number(since) || 0 } : {}),
          ...(service !== null ? { service } : {}),
          limit: Math.min(5000, Number(q.get("limit") ?? 200) || 200),
        });
        return json(200, { lines });
      },
    },
    {
      method: "GET",
      path: "/v1/audit",
      role: "admin",
      summary: "The audit log, newest first",
      run: async ({ url }) => json(200, { entries: await node.registry.auditLog(Math.min(1000, Number(url.searchParams.get("limit") ?? 100) || 100)) }),
    },
  ];
}

let ROUTES_FOR_DOC: Route[] | null = null;

const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: { error: { type: "object", required: ["code", "message"], properties: { code: { type: "string" }, message: { type: "string" } } } },
};
const ERROR_CONTENT = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };

/** The OpenAPI 3.1 document of the node API. */
export function openapi(): Record<string, unknown> {
  const table = ROUTES_FOR_DOC ?? routes(null as unknown as NodeServer, null as unknown as ControlServer);
  ROUTES_FOR_DOC = table;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of table) {
    const p = r.path.replace(/:([A-Za-z]+)/g, "{$1}");
    const bodies = (API_BODIES as Record<string, { request?: z.ZodType; response: z.ZodType }>)[`${r.method} ${p}`];
    const schema = (t: z.ZodType | undefined): Record<string, unknown> => {
      if (!t) return { type: "object" };
      const { $schema: _s, ...rest } = z.toJSONSchema(t, { io: "input" }) as Record<string, unknown>;
      return rest;
    };
    const params = [...r.path.matchAll(/:([A-Za-z]+)/g)].map((m) => ({ name: m[1], in: "path", required: true, schema: { type: "string" } }));
    (paths[p] ??= {})[r.method.toLowerCase()] = {
      summary: r.summary,
      "x-stratus-role": r.role,
      security: [{ bearer: [] }],
      ...(params.length ? { parameters: params } : {}),
      ...(r.method === "POST" || r.method === "PUT" ? { requestBody: { content: { "application/json": { schema: schema(bodies?.request) } } } } : {}),
      ...(r.method === "POST" || r.method === "PUT" ? { "x-stratus-max-body": r.maxBody ?? MAX_BODY.other } : {}),
      responses: {
        "200": { description: "OK", content: { "application/json": { schema: schema(bodies?.response) } } },
        "400": { description: "A malformed request or body (STRATUS_E_BAD_REQUEST, STRATUS_E_CLI_USAGE, ...)", content: ERROR_CONTENT },
        "401": { description: "No token, or a malformed, unknown, expired or revoked one (STRATUS_E_UNAUTHORIZED)", content: ERROR_CONTENT },
        "403": { description: `The token's role is below ${r.role} (STRATUS_E_FORBIDDEN)`, content: ERROR_CONTENT },
        ...(r.method === "POST" || r.method === "PUT"
          ? {
              "413": {
                description: `The body is over ${r.maxBody ?? MAX_BODY.other} bytes (STRATUS_E_BODY_TOO_LARGE), or the stack file over a limit (STRATUS_E_STACK_TOO_LARGE)`,
                content: ERROR_CONTENT,
              },
            }
          : {}),
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "Stratus node control API",
      version: "1",
      description:
        "Every error is a JSON body { error: { code, message } } whose code is listed in docs/errors.md. Stack files are bounded (docs/node.md, Limits).",
    },
    components: {
      schemas: { Error: ERROR_SCHEMA },
      securitySchemes: { bearer: { type: "http", scheme: "bearer", description: "stx_<id>_<secret>; roles admin > deployer > reader" } },
    },
    paths,
  };
}

function match(pattern: string, path: string): Record<string, string> | null {
  const a = pattern.split("/");
  const b = path.split("/");
  if (a.length !== b.length) return null;
  for (let i = 0; i < a.length; i++) if (!a[i]!.startsWith(":") && a[i] !== b[i]) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < a.length; i++) {
    if (!a[i]!.startsWith(":")) continue;
    if (b[i] === "") return null;
    params[a[i]!.slice(1)] = decodeSegment(b[i]!);
  }
  return params;
}

/** The node's control server. */
export class NodeApi {
  readonly #node: NodeServer;
  readonly #routes: Route[];
  #server: Server | null = null;

  constructor(node: NodeServer) {
    this.#node = node;
    const control = new ControlServer({
      stackName: () => node.running?.stack.name ?? "",
      metrics: () => node.metrics(),
      // Read when a request comes: the bus exists once the node has started.
      get events() {
        return node.events;
      },
    });
    this.#routes = routes(node, control);
  }

  /** Answers one request: route, token and role checked first. Never throws: any failure is a coded JSON error. */
  async handle(method: string, rawUrl: string, authorization: string | undefined, body: (maxBytes: number) => Promise<unknown>): Promise<ControlReply> {
    try {
      const url = parseTarget(rawUrl);
      let found: { route: Route; params: Record<string, string> } | null = null;
      const allowed = new Set<string>();
      for (const r of this.#routes) {
        const params = match(r.path, url.pathname);
        if (!params) continue;
        if (r.method === method) {
          found = { route: r, params };
          break;
        }
        allowed.add(r.method);
      }
      if (!found) {
        if (allowed.size > 0)
          throw new StratusError("STRATUS_E_METHOD_NOT_ALLOWED", `${printable(method)} is not allowed on ${url.pathname}; use ${[...allowed].join(", ")}`);
        throw new StratusError("STRATUS_E_NOT_FOUND", `no endpoint ${printable(method)} ${url.pathname}; the API is described at GET /v1/openapi.json`);
      }
      const token = await authorize(this.#node.registry, authorization, found.route.role, Date.now());
      return await found.route.run({ params: found.params, body: await body(found.route.maxBody ?? MAX_BODY.other), url, token });
    } catch (err) {
      const e = errorReply(err);
      return { status: e.status, type: "application/json", body: e.body };
    }
  }

  /** Starts listening; resolves with the bound port. The node is ready then: its admin token is written on a first start. */
  async listen(port: number, host: string): Promise<number> {
    const server = createServer({ requestTimeout: 120_000 }, (req, res) => {
      const method = req.method ?? "GET";
      try {
        refuseBrowserRequest(req, host);
      } catch (err) {
        const e = errorReply(err);
        sendReply(res, { status: e.status, type: "application/json", body: e.body });
        return;
      }
      void this.handle(method, req.url ?? "/", req.headers.authorization, (max) =>
        method === "POST" || method === "PUT" ? readJsonObject(req, max) : Promise.resolve(undefined),
      ).then((reply) => sendReply(res, reply));
    });
    server.on("clientError", answerClientError);
    this.#server = server;
    const bound = await listenControl(server, port, host);
    await this.#node.ready();
    return bound;
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s) await closeControl(s);
  }
}
