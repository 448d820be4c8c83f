/** Entry of a worker process: a StackHost driven by messages from the supervisor. */
import type { AddressInfo } from "node:net";
import { chooseBackends, decodeBackends } from "../backends/index.ts";
import type { Capacity, CpuPeers, CpuReport } from "../runtime/index.ts";
import { StackHost } from "../stack/index.ts";
import { createLogger, LogBuffer } from "../telemetry/index.ts";
import type { FromWorker, ToWorker } from "./cluster.ts";

let host: StackHost | null = null;
const json = process.env["STRATUS_LOG_JSON"] === "1";
// The supervisor chose the backends once (backends/index.ts) and sends their description.
const encoded = process.env["STRATUS_BACKENDS"];
const backends = encoded ? decodeBackends(encoded) : chooseBackends({ dataDir: null });
const logs = process.env["STRATUS_LOG_BUFFER"] === "1" ? new LogBuffer() : null;

function send(m: FromWorker): void {
  // A channel the supervisor already closed fails the send (EPIPE); without a callback that is an
  // uncaught error that kills the worker. The "disconnect" handler below ends this worker anyway.
  if (process.connected) process.send?.(m, undefined, undefined, () => undefined);
}

// The node-wide instance budget lives in the supervisor: ask it before starting an instance.
const grants = new Map<number, (ok: boolean) => void>();
let nextGrant = 1;
const capacity: Capacity = {
  take(service) {
    const id = nextGrant++;
    return new Promise<boolean>((resolve) => {
      grants.set(id, resolve);
      send({ type: "take", service, id, seq: 0 });
    });
  },
  give(service) {
    send({ type: "give", service, seq: 0 });
  },
};

// CPU-fair admission judges on the whole node: the supervisor passes each worker's CPU figures
// to the others (runtime/fairness.ts). The answer to one report is used at the next tick.
let otherWorkers: CpuReport | null = null;
const peers: CpuPeers = {
  exchange(mine) {
    send({ type: "cpu", report: mine, seq: 0 });
    return otherWorkers;
  },
};

function ensureHost(): StackHost {
  if (!host) {
    host = new StackHost({
      backends,
      capacity,
      logger: createLogger({ json, level: process.env["STRATUS_LOG_LEVEL"] ?? "info", ...(logs ? { buffer: logs } : {}) }),
    });
    host.runtime.shareCpu(peers);
  }
  return host;
}

async function handle(m: ToWorker): Promise<void> {
  try {
    if (m.type === "start") {
      const h = ensureHost();
      const addr: AddressInfo = await h.gateway.listen(m.port, m.host);
      send({ type: "listening", port: addr.port, seq: m.seq });
    } else if (m.type === "load") {
      const outcomes = await ensureHost().load(m.stack, m.bundles, new Map(m.secrets));
      send({ type: "loaded", outcomes, seq: m.seq });
    } else if (m.type === "canary") {
      await ensureHost().canary(m.service, m.canary);
      send({ type: "canaried", seq: m.seq });
    } else if (m.type === "logs") {
      send({
        type: "logs",
        lines:
          logs?.read({
            ...(m.since !== undefined ? { since: m.since } : {}),
            ...(m.service !== undefined ? { service: m.service } : {}),
            ...(m.limit !== undefined ? { limit: m.limit } : {}),
          }) ?? [],
        seq: m.seq,
      });
    } else if (m.type === "metrics") {
      send({ type: "metrics", metrics: await ensureHost().metrics.registry.getMetricsAsJSON(), seq: m.seq });
    } else if (m.type === "stop") {
      await host?.close();
      process.exit(0);
    }
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    send({
      type: "failed",
      message: err instanceof Error ? err.message : String(err),
      ...(typeof code === "string" && code.startsWith("STRATUS_E_") ? { code } : {}),
      seq: m.seq,
    });
  }
}

// Messages are handled one at a time, in order.
let chain: Promise<void> = Promise.resolve();
const TYPES = new Set(["start", "load", "metrics", "canary", "logs", "stop"]);
process.on("message", (m: ToWorker) => {
  if (typeof m !== "object" || m === null) return;
  // Budget messages are answered at once, not behind a deploy in the chain.
  if (m.type === "grant") {
    grants.get(m.id)?.(m.ok);
    grants.delete(m.id);
    return;
  }
  if (m.type === "cpu") return void (otherWorkers = m.others);
  if (m.type === "reclaim") return host?.runtime.reclaim(m.service);
  if (m.type === "available") return host?.runtime.retry(m.service);
  if (!TYPES.has(m.type)) return;
  chain = chain.then(() => handle(m));
});
process.on("SIGINT", () => undefined); // the supervisor decides when workers stop

// The memory guard: isolates are bounded one by one, but many of them (or a leak in a binding)
// can still grow the process. Past the limit, ask the supervisor for a graceful replacement
// before the kernel or V8 ends the process abruptly.
const maxRssMb = Number(process.env["STRATUS_MAX_RSS_MB"] ?? 1536);
let asked = false;
setInterval(() => {
  const rssMb = process.memoryUsage.rss() / 1048576;
  if (!asked && rssMb > maxRssMb) {
    asked = true;
    send({ type: "recycle", rssMb, seq: 0 });
  }
}, 1000).unref();

// If the supervisor goes away (killed), this worker has no one to answer to: finish and exit.
process.on("disconnect", () => {
  void (host?.close() ?? Promise.resolve()).finally(() => process.exit(0));
});
