/**
 * The node's control API, as far as this release goes, on its own port (for `dev`, the gateway
 * port + 1 unless told otherwise; bound to the gateway's host, 127.0.0.1 by default):
 * `GET /metrics` (Prometheus text, summed over worker processes), `GET /v1/status` (per-service
 * figures as JSON, what `stratus status` prints) and the events operations `stratus events` uses
 * (publish, tail, subscriptions, dead letters, redrive, replay, async invocations).
 */
import { timingSafeEqual, createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { clientErrorResponse, errorReply, StratusError } from "../errors/index.ts";
import type { Duplex } from "node:stream";
import { describeInvocation, type EventBus } from "../events/index.ts";
import { serviceFigures } from "../telemetry/index.ts";

/** Where the control server reads from. */
export interface ControlSource {
  /** The stack's name. */
  stackName(): string;
  /** Metrics summed over the worker processes. */
  metrics(): Promise<Registry>;
  /** The node's event bus (an operator's view; it need not deliver). */
  events?: EventBus;
}

/** A control API answer. */
export type ControlReply = { status: number; type: string; body: string };
type Reply = ControlReply;

const MAX_BODY = 1024 * 1024;

const ENDPOINTS = [
  "GET /metrics",
  "GET /v1/status",
  "GET /v1/events/subscriptions",
  "POST /v1/events/topics/:topic",
  "GET /v1/events/topics/:topic?after=SEQ&limit=N",
  "GET /v1/events/subscriptions/:name/dead?after=SEQ&limit=N",
  "POST /v1/events/subscriptions/:name/redrive",
  "POST /v1/events/subscriptions/:name/replay",
  "GET /v1/invocations/:id",
];

/** Options of the control server of `stratus dev`. */
export interface ControlServerOptions {
  /** When set, every request needs `Authorization: Bearer <token>` (a dev control API bound beyond loopback). */
  token?: string;
}

/** The control server. */
export class ControlServer {
  readonly #source: ControlSource;
  readonly #token: Buffer | null;
  #server: Server | null = null;
  #host = "127.0.0.1";

  constructor(source: ControlSource, options: ControlServerOptions = {}) {
    this.#source = source;
    this.#token = options.token ? createHash("sha256").update(options.token).digest() : null;
  }

  /** Starts listening; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer({ requestTimeout: 120_000 }, (req, res) => {
      void this.#serve(req).then(
        (reply) => sendReply(res, reply),
        (err: unknown) => {
          const e = errorReply(err);
          sendReply(res, { status: e.status, type: "application/json", body: e.body });
        },
      );
    });
    server.on("clientError", answerClientError);
    this.#server = server;
    this.#host = host;
    return listenControl(server, port, host);
  }

  async #serve(req: IncomingMessage): Promise<Reply> {
    if (this.#token) {
      const m = /^Bearer (\S+)$/.exec(req.headers.authorization ?? "");
      const given = createHash("sha256")
        .update(m?.[1] ?? "")
        .digest();
      if (!m || !timingSafeEqual(given, this.#token)) {
        throw new StratusError(
          "STRATUS_E_UNAUTHORIZED",
          "this dev control API is bound beyond loopback and needs Authorization: Bearer <the --control-token given to stratus dev>",
        );
      }
    }
    refuseBrowserRequest(req, this.#host);
    const url = parseTarget(req.url ?? "/");
    const method = req.method ?? "GET";
    const body = method === "POST" || method === "PUT" ? await readJsonObject(req, MAX_BODY) : undefined;
    return this.handle(method, url, body);
  }

  /** Answers one request (the node's authenticated API calls this for the endpoints it shares). */
  async handle(method: string, url: URL, body: unknown): Promise<Reply> {
    const path = url.pathname;
    if (method === "GET" && path === "/metrics") {
      const registry = await this.#source.metrics();
      return { status: 200, type: registry.contentType, body: await registry.metrics() };
    }
    if (method === "GET" && path === "/v1/status") {
      const services = await serviceFigures(await this.#source.metrics());
      return json(200, { stack: this.#source.stackName(), services });
    }
    const bus = this.#source.events;
    if (bus && (path.startsWith("/v1/events/") || path.startsWith("/v1/invocations/"))) {
      const num = (name: string, dflt: number): number => {
        const v = url.searchParams.get(name);
        if (v === null) return dflt;
        const n = Number(v);
        if (!Number.isInteger(n) || n < 0) throw new StratusError("STRATUS_E_CLI_USAGE", `${name} must be a whole number, got "${v}"`);
        return n;
      };
      let m: RegExpExecArray | null;
      if (method === "GET" && path === "/v1/events/subscriptions") return json(200, { subscriptions: await bus.subscriptions() });
      if ((m = /^\/v1\/events\/topics\/([^/]+)$/.exec(path))) {
        const topic = decodeSegment(m[1]!);
        if (method === "POST") {
          const b = (body ?? {}) as { data?: unknown; key?: string; id?: string; subject?: string };
          return json(202, await bus.publish("/cli", topic, b.data, { key: b.key, id: b.id, subject: b.subject }));
        }
        if (method === "GET") {
          const after = url.searchParams.get("after") === "end" ? await bus.store.head() : num("after", 0);
          const events = await bus.tail(topic, after, Math.min(1000, num("limit", 100)));
          return json(200, { events, next: events.at(-1)?.seq ?? after });
        }
      }
      if ((m = /^\/v1\/events\/subscriptions\/([^/]+)\/(dead|redrive|replay)$/.exec(path))) {
        const name = decodeSegment(m[1]!);
        if (m[2] === "dead" && method === "GET") {
          const dead = await bus.deadLetters(name, num("after", 0), Math.min(1000, num("limit", 100)));
          return json(200, { deadLetters: dead.map((d) => ({ ...d, event: { seq: d.event.seq, key: d.event.key, ...JSON.parse(d.event.body) } })) });
        }
        if (m[2] === "redrive" && method === "POST") {
          const seqs = (body as { seqs?: unknown }).seqs;
          if (seqs !== undefined && (!Array.isArray(seqs) || !seqs.every((s) => Number.isInteger(s)))) {
            throw new StratusError("STRATUS_E_CLI_USAGE", "seqs must be a list of event offsets (whole numbers)");
          }
          return json(200, { redriven: await bus.redrive(name, seqs as number[] | undefined) });
        }
        if (m[2] === "replay" && method === "POST") {
          const from = (body as { from?: unknown }).from;
          return json(200, await bus.replay(name, parseFrom(from)));
        }
      }
      if ((m = /^\/v1\/invocations\/([A-Za-z0-9-]{1,64})$/.exec(path)) && method === "GET") {
        return json(200, describeInvocation(await bus.invocation(m[1]!)));
      }
    }
    return json(404, {
      error: { code: "STRATUS_E_NOT_FOUND", message: `no control endpoint ${printable(method)} ${path}; there are ${ENDPOINTS.join(", ")}` },
    });
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s) await closeControl(s);
  }
}

/** Listens on the control port; resolves with the bound port (a taken port says how to pick another). */
export function listenControl(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", (err: NodeJS.ErrnoException) =>
      reject(
        err.code === "EADDRINUSE" || err.code === "EACCES"
          ? new StratusError(
              "STRATUS_E_PORT_IN_USE",
              `control port ${port} on ${host} is already in use; pass --control-port <another port> (0 picks a free one)`,
            )
          : err,
      ),
    );
    server.listen(port, host, () => {
      server.removeAllListeners("error");
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** Stops a control server at once (control calls are short; nothing waits on them). */
export async function closeControl(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

/**
 * Refuses what a web page in the operator's browser could send (checked before anything is read):
 * - a `Host` that is not a loopback name or the bound address while the API listens on a
 *   specific address (a DNS-rebinding page reaches 127.0.0.1 under its own name); on a wildcard
 *   address a token guards the API and the Host is not checked;
 * - an `Origin` other than the API's own (`http://` + Host): a cross-site page's fetch;
 * - a POST or PUT without `content-type: application/json`: a CORS-"simple" request (a form,
 *   text/plain) cannot send it, so a browser must preflight, and nothing here answers a preflight.
 */
export function refuseBrowserRequest(req: IncomingMessage, boundHost: string): void {
  const host = req.headers.host;
  if (host !== undefined && !WILDCARD.has(boundHost)) {
    const name = (host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.replace(/:\d*$/, "")).toLowerCase();
    if (!isLoopbackName(name) && name !== boundHost.replace(/^\[|\]$/g, "").toLowerCase()) {
      throw new StratusError(
        "STRATUS_E_FORBIDDEN",
        `the Host header ${JSON.stringify(host.slice(0, 100))} is not this control API's address; call it as localhost, 127.0.0.1 or ${boundHost}`,
      );
    }
  }
  const origin = req.headers.origin;
  if (origin !== undefined && (host === undefined || origin.toLowerCase() !== `http://${host.toLowerCase()}`)) {
    throw new StratusError(
      "STRATUS_E_FORBIDDEN",
      `requests from the web origin ${JSON.stringify(origin.slice(0, 100))} are refused: the control API is for the stratus CLI and scripts, not web pages`,
    );
  }
  const method = req.method ?? "GET";
  if (method === "POST" || method === "PUT") {
    const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (type !== "application/json") {
      throw new StratusError(
        "STRATUS_E_BAD_REQUEST",
        `a ${method} to the control API needs content-type: application/json, got ${JSON.stringify((req.headers["content-type"] ?? "(none)").slice(0, 100))}`,
      );
    }
  }
}

const WILDCARD = new Set(["", "0.0.0.0", "::", "[::]"]);

/** localhost, *.localhost (browsers resolve them to loopback themselves), 127.0.0.0/8 and ::1. */
function isLoopbackName(name: string): boolean {
  return name === "localhost" || name.endsWith(".localhost") || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name) || name === "::1";
}

/** Reads a JSON request body of at most `max` bytes ({} when empty). */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > max) throw new StratusError("STRATUS_E_BODY_TOO_LARGE", `the request body is ${declared} bytes, over the limit of ${max} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new StratusError("STRATUS_E_BODY_TOO_LARGE", `the request body is over the limit of ${max} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return text === "" ? {} : JSON.parse(text);
  } catch {
    throw new StratusError("STRATUS_E_CLI_USAGE", "the request body is not valid JSON; send a JSON object with content-type: application/json");
  }
}

/** Reads a JSON request body that must be an object ({} when empty): every endpoint takes one. */
export async function readJsonObject(req: IncomingMessage, max: number): Promise<Record<string, unknown>> {
  const v = await readJson(req, max);
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new StratusError(
      "STRATUS_E_CLI_USAGE",
      `the request body must be a JSON object, got ${v === null ? "null" : Array.isArray(v) ? "an array" : typeof v}`,
    );
  }
  return v as Record<string, unknown>;
}

/** The URL of an origin-form request target ("/path?query"); anything else is refused. */
export function parseTarget(target: string): URL {
  if (!target.startsWith("/")) {
    throw new StratusError("STRATUS_E_BAD_REQUEST", `the request target ${JSON.stringify(target.slice(0, 200))} is not a path; send "/v1/..."`);
  }
  try {
    // A fixed authority: the path is what routes, never a Host or an absolute-form target.
    return new URL(`http://control${target}`);
  } catch {
    throw new StratusError("STRATUS_E_BAD_REQUEST", `the request target ${JSON.stringify(target.slice(0, 200))} is not a valid path`);
  }
}

/** A method name as it may be quoted in a message (at most 32 token characters). */
export function printable(method: string): string {
  return method.replace(/[^A-Za-z0-9!#$%&'*+.^_`|~-]/g, "?").slice(0, 32);
}

/** Decodes one path segment; bad percent-encoding is the client's error (400), not a crash. */
export function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new StratusError("STRATUS_E_BAD_REQUEST", `the path segment ${JSON.stringify(segment.slice(0, 200))} is not valid percent-encoding (UTF-8)`);
  }
}

/** Answers a request Node's HTTP parser refused with a coded JSON 400 (a reset socket is just closed). */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === "ECONNRESET" || !socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(clientErrorResponse(err));
}

/** Writes a reply; a socket that is gone (or a reply Node refuses) ends the response, never the process. */
export function sendReply(res: ServerResponse, reply: ControlReply): void {
  try {
    res.writeHead(reply.status, { "content-type": reply.type });
    res.end(reply.body);
  } catch {
    res.destroy();
  }
}

/** "123" (an offset: the first event delivered again) or an ISO time / epoch ms. */
export function parseFrom(from: unknown): { seq: number } | { time: number } {
  if (typeof from === "number" && Number.isInteger(from) && from >= 0) return { seq: from };
  if (typeof from === "string") {
    if (/^\d{1,15}$/.test(from)) return { seq: Number(from) };
    const t = Date.parse(from);
    if (!Number.isNaN(t)) return { time: t };
  }
  throw new StratusError(
    "STRATUS_E_CLI_USAGE",
    `--from ${JSON.stringify(from)} is neither an offset nor a time; pass an event offset (e.g. 120, from "stratus events tail") or a time (e.g. 2030-01-01T12:00:00Z)`,
  );
}

function json(status: number, value: unknown): Reply {
  return { status, type: "application/json", body: JSON.stringify(value) };
}
