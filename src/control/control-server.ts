/**
 * The node's control API, as far as this release goes, on its own port (for `dev`, the gateway
 * port + 1 unless told otherwise; bound to the gateway's host, 127.0.0.1 by default):
 * `GET /metrics` (Prometheus text, summed over worker processes), `GET /v1/status` (per-service
 * figures as JSON, what `stratus status` prints) and the events operations `stratus events` uses
 * (publish, tail, subscriptions, dead letters, redrive, replay, async invocations).
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { StratusError } from "../errors/index.ts";
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

/** The control server. */
export class ControlServer {
  readonly #source: ControlSource;
  #server: Server | null = null;

  constructor(source: ControlSource) {
    this.#source = source;
  }

  /** Starts listening; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      void this.#serve(req).then(
        ({ status, type, body }) => {
          res.writeHead(status, { "content-type": type });
          res.end(body);
        },
        (err: unknown) => {
          const e = err instanceof StratusError ? err : new StratusError("STRATUS_E_INTERNAL", String(err));
          res.writeHead(e.status, { "content-type": "application/json" });
          res.end(JSON.stringify(e.toJSON()));
        },
      );
    });
    this.#server = server;
    return listenControl(server, port, host);
  }

  async #serve(req: IncomingMessage): Promise<Reply> {
    const url = new URL(req.url ?? "/", "http://control");
    const method = req.method ?? "GET";
    const body = method === "POST" || method === "PUT" ? await readJson(req, MAX_BODY) : undefined;
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
        const topic = decodeURIComponent(m[1]!);
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
        const name = decodeURIComponent(m[1]!);
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
    return json(404, { error: { code: "STRATUS_E_NOT_FOUND", message: `no control endpoint ${method} ${path}; there are ${ENDPOINTS.join(", ")}` } });
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
        err.code === "EADDRINUSE"
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

/** Reads a JSON request body of at most `max` bytes ({} when empty). */
export async function readJson(req: IncomingMessage, max: number): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > max) throw new StratusError("STRATUS_E_BODY_TOO_LARGE", `the request body is over ${max} bytes`);
    chunks.push(c);
  }
  const text = Buffer.concat(chunks).toString("utf8");
  try {
    return text === "" ? {} : JSON.parse(text);
  } catch {
    throw new StratusError("STRATUS_E_CLI_USAGE", "the request body is not valid JSON");
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
