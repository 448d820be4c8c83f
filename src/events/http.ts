/**
 * The gateway endpoints the bus serves: CloudEvents ingestion (POST /_stratus/events), async
 * invocation acceptance (202 + Location) and invocation status (GET /_stratus/invocations/:id).
 */
import { StratusError } from "../errors/index.ts";
import type { BusRequest, EventBus } from "./bus.ts";
import type { InvocationRecord } from "./interface.ts";

/** A reply to write as-is. */
export interface HttpReply {
  status: number;
  headers: string[];
  body: string | Uint8Array;
}

const JSON_TYPE = ["content-type", "application/json"];

function json(status: number, value: unknown, extra: string[] = []): HttpReply {
  return { status, headers: [...JSON_TYPE, ...extra], body: JSON.stringify(value) };
}

function failure(err: unknown): HttpReply {
  const e = err instanceof StratusError ? err : new StratusError("STRATUS_E_INTERNAL", err instanceof Error ? err.message : String(err));
  return json(e.status, e.toJSON(), e.code === "STRATUS_E_OVERLOADED" ? ["retry-after", "5"] : []);
}

function notFound(method: string, path: string): HttpReply {
  return failure(
    new StratusError(
      "STRATUS_E_NOT_FOUND",
      `no endpoint ${method} ${path}; the gateway serves POST /_stratus/events, GET /_stratus/invocations/:id and GET /_stratus/invocations/:id/result`,
    ),
  );
}

/** An invocation as the status endpoint shows it (the response body decoded when it is text). */
export function describeInvocation(inv: InvocationRecord): Record<string, unknown> {
  let result: Record<string, unknown> | null = null;
  if (inv.result) {
    const headers: Record<string, string> = {};
    for (let i = 0; i < inv.result.headers.length; i += 2) headers[inv.result.headers[i]!] = inv.result.headers[i + 1]!;
    const bytes = Buffer.from(inv.result.body, "base64");
    const type = headers["content-type"] ?? "";
    const text = /^(text\/|application\/(json|xml|javascript)|[^;]*\+json)/i.test(type) || type === "";
    result = { status: inv.result.status, headers, ...(text ? { body: bytes.toString("utf8") } : { bodyBase64: inv.result.body }) };
  }
  return {
    id: inv.id,
    service: inv.service,
    state: inv.state,
    attempts: inv.attempts,
    created: new Date(inv.created).toISOString(),
    updated: new Date(inv.updated).toISOString(),
    statusUrl: `/_stratus/invocations/${inv.id}`,
    result,
    error: inv.error,
  };
}

/** The extension object the gateway calls. */
export function busEndpoints(bus: EventBus): {
  system(method: string, url: string, path: string, headers: string[], body: Uint8Array | null): Promise<HttpReply>;
  invokeAsync(service: string, req: BusRequest): Promise<HttpReply>;
} {
  return {
    async system(method, _url, path, headers, body) {
      try {
        if (path === "/_stratus/events") {
          if (method !== "POST")
            return json(405, { error: { code: "STRATUS_E_METHOD_NOT_ALLOWED", message: "POST CloudEvents to /_stratus/events" } }, ["allow", "POST"]);
          const accepted = await bus.ingest(headers, body);
          return json(202, { accepted });
        }
        const m = /^\/_stratus\/invocations\/([A-Za-z0-9-]{1,64})(\/result)?$/.exec(path);
        if (m && (method === "GET" || method === "HEAD")) {
          const inv = await bus.invocation(m[1]!);
          if (!m[2]) return json(200, describeInvocation(inv));
          if (inv.state !== "completed" || !inv.result) {
            return json(inv.state === "failed" ? 502 : 202, describeInvocation(inv), inv.state === "failed" ? [] : ["retry-after", "1"]);
          }
          return { status: inv.result.status, headers: inv.result.headers, body: new Uint8Array(Buffer.from(inv.result.body, "base64")) };
        }
        return notFound(method, path);
      } catch (err) {
        return failure(err);
      }
    },
    async invokeAsync(service, req) {
      try {
        const inv = await bus.invokeAsync(service, req);
        const url = `/_stratus/invocations/${inv.id}`;
        return json(202, { id: inv.id, state: inv.state, statusUrl: url, resultUrl: `${url}/result` }, [
          "location",
          url,
          "preference-applied",
          "respond-async",
        ]);
      } catch (err) {
        return failure(err);
      }
    },
  };
}
