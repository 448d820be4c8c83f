/**
 * A stack running in one process: state, runtime and gateway wired together. `load()` applies a
 * resolved stack plus its bundles, deploying only the services whose code or config changed.
 */
import { isDeepStrictEqual } from "node:util";
import type { ResolvedService, ResolvedStack } from "../config/index.ts";
import { chooseBackends, openEventStore, openStateProvider, type Backends } from "../backends/index.ts";
import { EventBus, busEndpoints, type EventStore } from "../events/index.ts";
import { Gateway, Router } from "../gateway/index.ts";
import { Runtime, type Capacity, type CanarySticky } from "../runtime/index.ts";
import type { StateProvider } from "../state/index.ts";
import { Metrics, secretRedactor, type Logger } from "../telemetry/index.ts";
import { mapLimited } from "./limited.ts";

/** Services deployed at once by load() (see there). */
const DEPLOY_CONCURRENCY = 4;
/** A built service: its code and the hash that names the version. */
export interface BundleRef {
  readonly service: string;
  readonly code: string;
  readonly hash: string;
  /** The bundle's source map (JSON), when it was built here: stack frames are mapped with it. */
  readonly map?: string;
}

/** Options of StackHost. */
export interface StackHostOptions {
  /** Where state and events live (chooseBackends); default: both in this process's memory. */
  backends?: Backends;
  logger: Logger;
  /** Spare blank isolates kept ready (default 2). */
  spares?: number;
  /** Bring your own state provider instead of the one `backends` describes. */
  state?: StateProvider;
  /** The clock for KV expiry and idle timeouts (tests move it by hand). */
  clock?: () => number;
  /** The node-wide instance budget, when this process is one of several workers. */
  capacity?: Capacity;
  /** Bring your own event store instead of the one `backends` describes. */
  eventStore?: EventStore;
  /** How often other processes' publishes are looked for, in ms (default 10). */
  eventPollMs?: number;
}

/** Secret values from the environment for `stratus dev`: STRATUS_SECRET_<NAME>. */
export function secretsFromEnv(env: NodeJS.ProcessEnv = process.env): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of Object.entries(env)) if (k.startsWith("STRATUS_SECRET_") && v !== undefined) out.set(k.slice("STRATUS_SECRET_".length), v);
  return out;
}

/** What load() did for one service. */
export type LoadOutcome =
  | { service: string; status: "deployed"; version: string }
  | { service: string; status: "unchanged"; version: string }
  | { service: string; status: "failed"; error: { code: string; message: string } }
  | { service: string; status: "removed" };

/** One process's stack. */
export class StackHost {
  readonly runtime: Runtime;
  readonly gateway: Gateway;
  readonly state: StateProvider;
  /** This process's per-service metrics (Prometheus registry). */
  readonly metrics: Metrics;
  /** Topics, subscriptions, cron and async invocations. */
  readonly events: EventBus;
  readonly #eventStore: EventStore;
  readonly #log: Logger;
  readonly #live = new Map<string, { hash: string; config: ResolvedService }>();
  #secrets: ReadonlyMap<string, string> = new Map();
  /** Each service's own routes, for service-binding calls (see RuntimeOptions.route). */
  #routers = new Map<string, Router>();

  constructor(opts: StackHostOptions) {
    this.#log = opts.logger;
    const backends = opts.backends ?? chooseBackends({ dataDir: null });
    this.state = opts.state ?? openStateProvider(backends.state, opts.clock ? { clock: opts.clock } : {});
    this.runtime = new Runtime({
      state: this.state,
      logger: opts.logger,
      ...(opts.spares !== undefined ? { spares: opts.spares } : {}),
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.capacity ? { capacity: opts.capacity } : {}),
      publish: (service, topic, data, o) => this.events.publishFromService(service, topic, data, o),
      secrets: () => this.#secrets,
      route: (service, method, path) => {
        const m = this.#routers.get(service)?.match(method, path);
        return m?.kind === "found" ? m.params : null;
      },
    });
    this.#eventStore = opts.eventStore ?? openEventStore(backends.events);
    this.events = new EventBus({
      store: this.#eventStore,
      logger: opts.logger,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.eventPollMs !== undefined ? { pollMs: opts.eventPollMs } : {}),
      target: {
        deliver: (service, events, depth) => this.runtime.runEvents(service, events, depth),
        scheduled: (service, cron, time) => this.runtime.runScheduled(service, cron, time),
        invoke: (_service, req) => this.gateway.route(req.method, req.url, req.headers, req.body, req.requestId),
      },
    });
    this.gateway = new Gateway({ runtime: this.runtime, logger: opts.logger, extensions: busEndpoints(this.events) });
    this.metrics = new Metrics(this.runtime, this.events.owner);
  }

  /**
   * Applies `stack`: services whose bundle or config changed get a new version (the old one keeps
   * serving if the new one fails to load); services no longer in the stack are removed; the
   * routing table switches once every deploy has settled.
   */
  async load(stack: ResolvedStack, bundles: readonly BundleRef[], secrets?: ReadonlyMap<string, string>): Promise<LoadOutcome[]> {
    this.runtime.setStackServices(stack.services.map((s) => s.name));
    // New secret values reach a service through a new version of it (its instances read them at start).
    const secretsChanged = secrets !== undefined && !isDeepStrictEqual(secrets, this.#secrets);
    if (secrets !== undefined) {
      this.#secrets = secrets;
      // Every log line of this process is redacted of them, in every encoding.
      secretRedactor.use(this, secrets.values());
    }
    const byName = new Map(bundles.map((b) => [b.service, b]));
    // A few deploys at a time: each starts an isolate to prove its code loads, and a 1,000-service
    // stack deployed all at once held 1,000 isolates together (GBs the process kept afterwards).
    const outcomes = await mapLimited(stack.services, DEPLOY_CONCURRENCY, async (svc): Promise<LoadOutcome> => {
      const b = byName.get(svc.name);
      const live = this.#live.get(svc.name);
      if (!b) {
        return live
          ? { service: svc.name, status: "unchanged", version: live.hash.slice(0, 12) }
          : { service: svc.name, status: "failed", error: { code: "STRATUS_E_BUILD", message: `service "${svc.name}" has no build` } };
      }
      const usesSecrets = Object.values(svc.bindings).some((x) => x.kind === "secret");
      if (live && live.hash === b.hash && isDeepStrictEqual(live.config, svc) && !(secretsChanged && usesSecrets)) {
        return { service: svc.name, status: "unchanged", version: b.hash.slice(0, 12) };
      }
      try {
        const v = await this.runtime.deploy(svc, b);
        this.#live.set(svc.name, { hash: b.hash, config: svc });
        return { service: svc.name, status: "deployed", version: v.version };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { service: svc.name, status: "failed", error: { code: e.code ?? "STRATUS_E_INTERNAL", message: e.message ?? String(err) } };
      }
    });
    const keep = new Set(stack.services.map((s) => s.name));
    for (const name of [...this.#live.keys()]) {
      if (!keep.has(name)) {
        this.#live.delete(name);
        await this.runtime.remove(name);
        outcomes.push({ service: name, status: "removed" });
      }
    }
    this.#routers = new Map(
      stack.services.map((s) => [s.name, new Router(s.routes.map((r) => ({ service: s.name, method: r.method, path: r.path, raw: r.raw })))]),
    );
    this.gateway.setStack(stack);
    await this.events.configure(stack);
    return outcomes;
  }

  /** Sends `percent` of a service's requests to another version (or ends the canary with null). */
  async canary(service: string, canary: { config: ResolvedService; bundle: BundleRef; percent: number; sticky: CanarySticky | null } | null): Promise<void> {
    if (canary === null) this.runtime.clearCanary(service);
    else await this.runtime.setCanary(canary.config, canary.bundle, canary.percent, canary.sticky);
  }

  /** Stops the gateway (finishing in-flight requests), the runtime and the state. */
  async close(): Promise<void> {
    await this.gateway.close();
    await this.events.close();
    await this.runtime.close();
    await this.#eventStore.close();
    this.metrics.close();
    await this.state.close();
    secretRedactor.use(this, []);
    this.#log.flush?.();
  }
}
