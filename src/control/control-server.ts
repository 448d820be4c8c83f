/**
 * The node's control API, as far as this release goes: read-only, on its own port (for `dev`, the
 * gateway port + 1 unless told otherwise; bound to the gateway's host, 127.0.0.1 by default): `GET /metrics` (Prometheus text, summed over worker processes) and
 * `GET /v1/status` (per-service figures as JSON, what `stratus status` prints).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import { StratusError } from "../errors/index.ts";
import { serviceFigures } from "../telemetry/index.ts";

/** Where the control server reads from. */
export interface ControlSource {
  /** The stack's name. */
  stackName(): string;
  /** Metrics summed over the worker processes. */
  metrics(): Promise<Registry>;
}

/** The read-only control server. */
export class ControlServer {
  readonly #source: ControlSource;
  #server: Server | null = null;

  constructor(source: ControlSource) {
    this.#source = source;
  }

  /** Starts listening; resolves with the bound port. */
  listen(port: number, host: string): Promise<number> {
    const server = createServer((req, res) => {
      void this.#handle(req.method ?? "GET", (req.url ?? "/").split("?")[0]!).then(
        ({ status, type, body }) => {
          res.writeHead(status, { "content-type": type });
          res.end(body);
        },
        (err: unknown) => {
          res.writeHead(500, { "content-type": "application/json" });
          res.end(JSON.stringify({ error: { code: "STRATUS_E_INTERNAL", message: String(err) } }));
        },
      );
    });
    this.#server = server;
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

  async #handle(method: string, path: string): Promise<{ status: number; type: string; body: string }> {
    if (method !== "GET")
      return json(405, {
        error: { code: "STRATUS_E_METHOD_NOT_ALLOWED", message: `${method} is not allowed here; the control API is read-only in this release` },
      });
    if (path === "/metrics") {
      const registry = await this.#source.metrics();
      return { status: 200, type: registry.contentType, body: await registry.metrics() };
    }
    if (path === "/v1/status") {
      const services = await serviceFigures(await this.#source.metrics());
      return json(200, { stack: this.#source.stackName(), services });
    }
    return json(404, { error: { code: "STRATUS_E_NOT_FOUND", message: `no control endpoint ${path}; there are GET /metrics and GET /v1/status` } });
  }

  /** Stops listening. */
  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }
}

function json(status: number, value: unknown): { status: number; type: string; body: string } {
  return { status, type: "application/json", body: JSON.stringify(value) };
}
