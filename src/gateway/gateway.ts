/**
 * The HTTP gateway: a Node http server that routes each request to a service, enforces the body
 * limit, stamps a request id, streams the response back and logs one line per invocation.
 * `fetch()` runs the same path in-process for tests (no socket).
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ResolvedStack } from "../config/index.ts";
import { clientErrorResponse, StratusError, toStratusError, type ErrorCode } from "../errors/index.ts";
import { readBody, type InvokeResult, type Runtime } from "../runtime/index.ts";
import type { Logger } from "../telemetry/index.ts";
import { Router } from "./router.ts";

/** A reply the gateway's own endpoints give (under /_stratus/, and 202s for async invocations). */
export interface SystemReply {
  status: number;
  headers: string[];
  body: string | Uint8Array;
}

/** Endpoints beyond the stack's routes: CloudEvents ingestion and async invocation. */
export interface GatewayExtensions {
  /** Serves a request under /_stratus/ (`path` without the query). */
  system(method: string, url: string, path: string, headers: string[], body: Uint8Array | null): Promise<SystemReply>;
  /** Accepts a routed request that asked for Prefer: respond-async; answers 202 once it is durable. */
  invokeAsync(service: string, req: { method: string; url: string; headers: string[]; body: Uint8Array | null; requestId: string }): Promise<SystemReply>;
}

/** Options of Gateway. */
export interface GatewayOptions {
  runtime: Runtime;
  logger: Logger;
  extensions?: GatewayExtensions;
}

/** True when the flat headers carry Prefer: respond-async. */
function wantsAsync(headers: readonly string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i] === "prefer" && /(^|[,;\s])respond-async($|[,;\s])/i.test(headers[i + 1]!)) return true;
  }
  return false;
}

/** What the gateway answers, before it is written to a socket or a Response. */
interface Reply {
  status: number;
  statusText: string;
  headers: string[];
  body: string | Uint8Array | null;
  stream: AsyncIterable<Uint8Array> | null;
}

/** What serving one request came to, for the reply and the log line. */
interface Outcome {
  reply: Reply;
  path: string;
  service?: string;
  route?: string;
  cold?: boolean;
  version?: string;
  code?: string;
}

/** The path of an absolute URL, without the query. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start < 0) return "/";
  const q = url.indexOf("?", start);
  return url.slice(start, q < 0 ? undefined : q);
}

/** host[:port]: a DNS name (labels of letters, digits, "-", "_"), an IPv4 address or a bracketed IPv6 one. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]{2,45}\]|[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?)(?::[0-9]{1,5})?$/;
/** A path and query the URL parser leaves as they are: no dot segments, backslashes, fragments or non-ASCII. */
const PLAIN_TARGET = /^(?:\/(?![./]|%2[eE])[A-Za-z0-9\-._~!$&'()*+,;=:@%]*)+(?:\?[\x21\x22\x24-\x7e]*)?$/;

/**
 * The URL a function sees, from the request target the gateway routes and a validated Host: a Host
 * that is not host[:port] is refused, and the path is normalised once (dot segments, "%2e", "\\")
 * so the path routed is exactly the path the function reads. An absolute-form target
 * ("GET http://a/b") names its own authority (RFC 9112 3.2.2), which is validated the same way.
 */
export function requestUrl(target: string, host: string | undefined): { url: string; path: string } | { error: string } {
  let authority = host ?? "localhost";
  let rest = target;
  if (!target.startsWith("/")) {
    if (!/^https?:\/\//i.test(target)) return { error: `the request target ${JSON.stringify(target.slice(0, 100))} is not a path; send "/..."` };
    let abs: URL;
    try {
      abs = new URL(target);
    } catch {
      return { error: `the request target ${JSON.stringify(target.slice(0, 100))} is not a valid URL` };
    }
    if (abs.username || abs.password) return { error: "the request target carries credentials (user@host); send a path" };
    authority = abs.host;
    rest = `${abs.pathname}${abs.search}`;
  }
  if (authority.length > 261 || !AUTHORITY.test(authority)) {
    return { error: `the Host header ${JSON.stringify(authority.slice(0, 100))} is not host[:port]` };
  }
  const port = /:(\d+)$/.exec(authority);
  if (port && Number(port[1]) > 65535) return { error: `the Host header ${JSON.stringify(authority)} has a port over 65535` };
  authority = authority.toLowerCase();
  if (PLAIN_TARGET.test(rest)) {
    const q = rest.indexOf("?");
    return { url: `http://${authority}${rest}`, path: q < 0 ? rest : rest.slice(0, q) };
  }
  let u: URL;
  try {
    u = new URL(`http://${authority}${rest.startsWith("/") ? rest : `/${rest}`}`);
  } catch {
    return { error: `the request target ${JSON.stringify(target.slice(0, 100))} is not a valid path` };
  }
  // The fragment is never sent by a client; a "#" here is part of the path, escaped as the URL parser would not.
  if (u.hash) u = new URL(`http://${authority}${u.pathname}${(u.search + u.hash).replaceAll("#", "%23")}`);
  if (u.host !== authority) return { error: `the request target ${JSON.stringify(target.slice(0, 100))} changes the authority` };
  return { url: u.href, path: u.pathname };
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const DROP = new Set(["content-length", "transfer-encoding", "connection", "keep-alive"]);

function jsonError(code: ErrorCode, message: string, extra: string[] = []): Reply {
  const e = new StratusError(code, message);
  return { status: e.status, statusText: "", headers: ["content-type", "application/json", ...extra], body: JSON.stringify(e.toJSON()), stream: null };
}

/** The gateway. */
export class Gateway {
  readonly #runtime: Runtime;
  readonly #log: Logger;
  readonly #ext: GatewayExtensions | null;
  #router = new Router([]);
  #maxBody = 1024 * 1024;
  #server: Server | null = null;
  #inFlight = 0;
  #idle: (() => void) | null = null;

  constructor(opts: GatewayOptions) {
    this.#runtime = opts.runtime;
    this.#log = opts.logger;
    this.#ext = opts.extensions ?? null;
  }

  /** Replaces the routing table and limits (atomic: the next request sees the new table). */
  setStack(stack: ResolvedStack): void {
    this.#router = new Router(stack.services.flatMap((s) => s.routes.map((r) => ({ service: s.name, method: r.method, path: r.path, raw: r.raw }))));
    this.#maxBody = stack.gateway.maxBodySize;
  }

  /** Routes and invokes; never throws: whatever fails becomes a coded JSON error for this request only. */
  async #handle(method: string, url: string, headers: string[], body: Uint8Array | null, requestId: string, allowAsync = true): Promise<Outcome> {
    try {
      return await this.#route(method, url, headers, body, requestId, allowAsync);
    } catch (err) {
      const e = toStratusError(err);
      this.#log.error({ requestId, err: e.message, code: e.code }, "the gateway failed to serve a request");
      return { reply: jsonError(e.code, e.message), path: pathOf(url), code: e.code };
    }
  }

  async #route(method: string, url: string, headers: string[], body: Uint8Array | null, requestId: string, allowAsync: boolean): Promise<Outcome> {
    const path = pathOf(url);
    if (this.#ext && path.startsWith("/_stratus/")) {
      const r = await this.#ext.system(method, url, path, headers, body);
      return { reply: { ...r, statusText: "", stream: null }, path, service: "_stratus" };
    }
    const m = this.#router.match(method, path);
    if (m.kind === "none") {
      return {
        reply: jsonError("STRATUS_E_NOT_FOUND", `no route for ${method} ${path}; routes are listed by "stratus dev" at start`),
        path,
        code: "STRATUS_E_NOT_FOUND",
      };
    }
    if (m.kind === "method") {
      return {
        reply: jsonError("STRATUS_E_METHOD_NOT_ALLOWED", `${method} is not routed for ${path}; allowed: ${m.allowed.join(", ")}`, [
          "allow",
          m.allowed.join(", "),
        ]),
        path,
        code: "STRATUS_E_METHOD_NOT_ALLOWED",
      };
    }
    if (allowAsync && this.#ext && wantsAsync(headers)) {
      const r = await this.#ext.invokeAsync(m.target.service, { method, url, headers, body, requestId });
      return { reply: { ...r, statusText: "", stream: null }, path, service: m.target.service, route: m.target.route, code: "async" };
    }
    const inv = await this.#runtime.invoke(m.target.service, { method, url, headers, body, requestId, params: m.params });
    const r: InvokeResult = inv.result;
    return {
      reply: r,
      path,
      service: m.target.service,
      route: m.target.route,
      cold: inv.cold,
      version: inv.version,
      ...(r.error ? { code: r.error.code } : {}),
    };
  }

  /**
   * Routes and runs a request without a socket or a log line, ignoring Prefer: respond-async (the
   * event bus runs accepted async invocations through this). The body is collected.
   */
  async route(
    method: string,
    url: string,
    headers: string[],
    body: Uint8Array | null,
    requestId: string,
  ): Promise<{ status: number; headers: string[]; body: Uint8Array; error: { code: string; message: string } | null }> {
    const out = await this.#handle(method, url, headers, body, requestId, false);
    const r = out.reply;
    const bytes = await readBody(r);
    return { status: r.status, headers: r.headers, body: bytes, error: (r as Partial<InvokeResult>).error ?? null };
  }

  /** The one line per request: time, service, route, status, duration, cold start, request id, version (and the code of a failure). */
  #logLine(method: string, status: number, start: number, requestId: string, info: Outcome, error?: { message: string } | null): void {
    const durationMs = Math.round((performance.now() - start) * 100) / 100;
    const fields = {
      service: info.service,
      route: info.route,
      status,
      durationMs,
      cold: info.cold ?? false,
      requestId,
      version: info.version,
      code: info.code,
    };
    const msg = `${method} ${info.path} ${status}`;
    if (status >= 500) this.#log.error(error && error.message.includes("\n") ? { ...fields, detail: error.message } : fields, msg);
    else this.#log.info(fields, msg);
  }

  /** The Node request listener. */
  readonly listener = (req: IncomingMessage, res: ServerResponse): void => {
    try {
      this.#listen(req, res);
    } catch (err) {
      // The last boundary: a fault here fails this request, never the process.
      const e = toStratusError(err);
      this.#log.error({ err: e.message }, "the gateway failed to take a request");
      try {
        if (!res.headersSent) res.writeHead(e.status, ["content-type", "application/json", "connection", "close"]);
        res.end(JSON.stringify(e.toJSON()));
      } catch {
        res.destroy();
      }
    }
  };

  #listen(req: IncomingMessage, res: ServerResponse): void {
    const start = performance.now();
    const given = req.headers["x-request-id"];
    const requestId = typeof given === "string" && REQUEST_ID.test(given) ? given : randomUUID();
    const method = req.method ?? "GET";
    const target = requestUrl(req.url ?? "/", req.headers.host);
    if ("error" in target) {
      const reply = jsonError("STRATUS_E_BAD_REQUEST", target.error);
      res.shouldKeepAlive = false;
      res.writeHead(reply.status, ["content-type", "application/json", "x-request-id", requestId, "connection", "close"]);
      res.end(reply.body);
      this.#logLine(method, reply.status, start, requestId, { reply, path: "-", code: "STRATUS_E_BAD_REQUEST" });
      return;
    }
    const url = target.url;
    const raw = req.rawHeaders;
    const headers: string[] = new Array(raw.length);
    for (let i = 0; i < raw.length; i += 2) {
      headers[i] = raw[i]!.toLowerCase();
      headers[i + 1] = raw[i + 1]!;
    }
    this.#inFlight++;
    const finish = (): void => {
      if (--this.#inFlight === 0) this.#idle?.();
    };
    const hasBody = req.headers["content-length"] !== undefined ? req.headers["content-length"] !== "0" : req.headers["transfer-encoding"] !== undefined;
    if (!hasBody) {
      // Nothing to read: Node's server disposes of the (empty) request when the response ends.
      void this.#serve(res, method, url, headers, null, requestId, start)
        .catch(() => res.destroy())
        .finally(finish);
      return;
    }
    if (Number(req.headers["content-length"] ?? 0) > this.#maxBody) {
      this.#tooLarge(res, method, url, requestId, start);
      finish();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    // Settled once: served, refused as too large (the rest is never read), or broken off.
    let settled = false;
    const stop = (): void => {
      settled = true;
      finish();
    };
    req.on("data", (c: Buffer) => {
      if (settled) return;
      size += c.length;
      if (size > this.#maxBody) {
        this.#tooLarge(res, method, url, requestId, start);
        req.pause();
        stop();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => {
      if (settled) return;
      settled = true;
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      void this.#serve(res, method, url, headers, new Uint8Array(body.buffer, body.byteOffset, body.byteLength), requestId, start)
        .catch(() => res.destroy())
        .finally(finish);
    });
    req.on("error", () => {
      if (!settled) stop();
    });
  }

  #tooLarge(res: ServerResponse, method: string, url: string, requestId: string, start: number): void {
    const reply = jsonError(
      "STRATUS_E_BODY_TOO_LARGE",
      `the request body is over ${this.#maxBody} bytes (gateway.maxBodySize in stratus.yaml); send less or raise the limit`,
    );
    res.shouldKeepAlive = false;
    res.writeHead(reply.status, ["content-type", "application/json", "x-request-id", requestId, "connection", "close"]);
    res.end(reply.body);
    this.#logLine(method, reply.status, start, requestId, { reply, path: pathOf(url), code: "STRATUS_E_BODY_TOO_LARGE" });
  }

  async #serve(res: ServerResponse, method: string, url: string, headers: string[], body: Uint8Array | null, requestId: string, start: number): Promise<void> {
    const out = await this.#handle(method, url, headers, body, requestId);
    const r = out.reply;
    const h: string[] = [];
    for (let i = 0; i < r.headers.length; i += 2) {
      if (!DROP.has(r.headers[i]!)) h.push(r.headers[i]!, r.headers[i + 1]!);
    }
    h.push("x-request-id", requestId);
    let status = r.status;
    try {
      try {
        if (r.statusText) res.writeHead(r.status, r.statusText, h);
        else res.writeHead(r.status, h);
      } catch (err) {
        // Node refuses what HTTP cannot carry (a header value outside Latin-1, status 0, ...).
        if (r.stream) void r.stream[Symbol.asyncIterator]().return?.();
        const e = jsonError(
          "STRATUS_E_BAD_RESPONSE",
          `service "${out.service ?? "?"}" returned a response HTTP cannot carry: ${err instanceof Error ? err.message : String(err)}`,
        );
        status = e.status;
        out.code = "STRATUS_E_BAD_RESPONSE";
        res.writeHead(e.status, ["content-type", "application/json", "x-request-id", requestId]);
        res.end(e.body);
        this.#logLine(method, status, start, requestId, out, null);
        return;
      }
      if (method === "HEAD") {
        res.end();
        if (r.stream) void r.stream[Symbol.asyncIterator]().return?.();
      } else if (r.stream) {
        await pipeStream(r.stream, res);
      } else res.end(r.body ?? undefined);
    } catch (err) {
      this.#log.error({ requestId, service: out.service, err: String(err) }, "response stream failed");
      res.destroy();
    }
    this.#logLine(method, status, start, requestId, out, (r as Partial<InvokeResult>).error);
  }

  /**
   * Serves a web Request in-process, exactly as a socket request would be served (tests, tooling).
   * Streamed bodies are collected.
   */
  async fetch(request: Request): Promise<Response> {
    const start = performance.now();
    const given = request.headers.get("x-request-id");
    const requestId = given && REQUEST_ID.test(given) ? given : randomUUID();
    const headers: string[] = [];
    request.headers.forEach((v, k) => headers.push(k, v));
    let body: Uint8Array | null = null;
    if (request.body) {
      body = new Uint8Array(await request.arrayBuffer());
      if (body.byteLength > this.#maxBody) {
        const r = jsonError(
          "STRATUS_E_BODY_TOO_LARGE",
          `the request body is over ${this.#maxBody} bytes (gateway.maxBodySize in stratus.yaml); send less or raise the limit`,
        );
        return new Response(r.body as string, {
          status: r.status,
          headers: [
            ["content-type", "application/json"],
            ["x-request-id", requestId],
          ],
        });
      }
    }
    const out = await this.#handle(request.method, request.url, headers, body, requestId);
    const r = out.reply;
    const payload = r.stream ? await readBody(r) : r.body;
    const nullBody = request.method === "HEAD" || r.status === 204 || r.status === 304;
    let response: Response;
    try {
      const h = new Headers();
      for (let i = 0; i < r.headers.length; i += 2) if (!DROP.has(r.headers[i]!)) h.append(r.headers[i]!, r.headers[i + 1]!);
      h.set("x-request-id", requestId);
      response = new Response(nullBody ? null : payload, { status: r.status, statusText: r.statusText, headers: h });
    } catch (err) {
      const e = jsonError(
        "STRATUS_E_BAD_RESPONSE",
        `service "${out.service ?? "?"}" returned a response HTTP cannot carry: ${err instanceof Error ? err.message : String(err)}`,
      );
      out.code = "STRATUS_E_BAD_RESPONSE";
      response = new Response(e.body as string, {
        status: e.status,
        headers: [
          ["content-type", "application/json"],
          ["x-request-id", requestId],
        ],
      });
    }
    this.#logLine(request.method, response.status, start, requestId, out, (r as Partial<InvokeResult>).error);
    return response;
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    const server = createServer({ keepAliveTimeout: 5000, requestTimeout: 60_000 }, this.listener);
    // A request Node's parser refuses gets a coded JSON 400, like every other refusal.
    server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      if (err.code === "ECONNRESET" || !socket.writable) socket.destroy();
      else socket.end(clientErrorResponse(err));
    });
    this.#server = server;
    return new Promise((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => {
        reject(
          err.code === "EADDRINUSE"
            ? new StratusError("STRATUS_E_PORT_IN_USE", `port ${port} on ${host} is already in use; stop the other server or pass --port <another port>`)
            : err,
        );
      });
      server.listen(port, host, () => {
        server.removeAllListeners("error");
        resolve(server.address() as AddressInfo);
      });
    });
  }

  /** Stops accepting connections and resolves once in-flight requests have finished (at most `graceMs`). */
  async close(graceMs = 10_000): Promise<void> {
    const server = this.#server;
    this.#server = null;
    if (!server) return;
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeIdleConnections();
    if (this.#inFlight > 0) {
      await Promise.race([new Promise<void>((r) => (this.#idle = r)), new Promise((r) => setTimeout(r, graceMs).unref())]);
    }
    server.closeAllConnections();
    await closed;
  }
}

async function pipeStream(stream: AsyncIterable<Uint8Array>, res: ServerResponse): Promise<void> {
  const it = stream[Symbol.asyncIterator]();
  try {
    for (;;) {
      if (res.destroyed) return;
      const { done, value } = await it.next();
      if (done) break;
      if (!res.write(value)) {
        await new Promise<void>((resolve) => {
          const go = (): void => {
            res.off("drain", go);
            res.off("close", go);
            resolve();
          };
          res.on("drain", go);
          res.on("close", go);
        });
      }
    }
    res.end();
  } finally {
    await it.return?.();
  }
}
