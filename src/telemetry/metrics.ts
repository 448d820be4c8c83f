/**
 * Per-service metrics in Prometheus form (prom-client), fed by the `stratus:invocation` and
 * `stratus:limit` diagnostics channels and by gauges read at scrape time. One registry per
 * runtime; worker registries are summed by the supervisor (`aggregateMetrics`).
 */
import diagnostics from "node:diagnostics_channel";
import { ERROR_CODES } from "../errors/index.ts";
import {
  AggregatorRegistry,
  Counter,
  Gauge,
  Registry,
  type Metric,
  type MetricObjectWithValues,
  type MetricValue,
  type MetricValueWithName,
} from "prom-client";

/** What an invocation event carries (published by the runtime). */
interface InvocationEventLike {
  runtime: unknown;
  service: string;
  version?: string;
  durationMs: number;
  cold: boolean;
  status: number;
  code: string | null;
}

/**
 * Whether an invocation is its version's failure: status 500 or above that the function or its
 * instance produced (its own 5xx reply, a throw, a limit). The platform's refusals (queue full,
 * draining pool, an internal fault) are not the version's, so they never count against a canary.
 */
function versionFailed(e: InvocationEventLike): boolean {
  if (e.status < 500) return false;
  if (e.code === null) return true;
  return (ERROR_CODES as Record<string, { user: boolean } | undefined>)[e.code]?.user ?? false;
}

/** What a limit event carries. */
interface LimitEventLike {
  runtime: unknown;
  service: string;
  code: string;
}

/** What a delivery event carries (published by the event bus per settled batch). */
interface DeliveryEventLike {
  owner: string;
  subscription: string;
  service: string;
  delivered: number[];
  failed: number;
  retried: number;
  dead: number;
}

/** The gauges' source: per-service figures at this moment. */
export interface GaugeSource {
  status(): {
    service: string;
    version: string;
    instances: number;
    busy: number;
    inFlight: number;
    queued: number;
    desired: number;
    panic: boolean;
    canary?: { version: string; percent: number; instances: number } | null;
  }[];
}

const LIMIT_NAMES: Record<string, string> = {
  STRATUS_E_CPU_LIMIT: "cpu",
  STRATUS_E_MEMORY_LIMIT: "memory",
  STRATUS_E_TIMEOUT: "timeout",
};

/** Upper bounds (seconds) of the invocation duration histogram's buckets. */
const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

/** One service's invocation count and duration histogram, as plain numbers. */
class ServiceTally {
  readonly service: string;
  count = 0;
  sum = 0;
  /** Observations per bucket (not cumulative); the last one is +Inf. */
  readonly buckets = new Float64Array(DURATION_BUCKETS.length + 1);
  constructor(service: string) {
    this.service = service;
  }
  observe(seconds: number): void {
    this.count++;
    this.sum += seconds;
    let i = 0;
    while (i < DURATION_BUCKETS.length && seconds > DURATION_BUCKETS[i]!) i++;
    this.buckets[i]!++;
  }
}

/** One version's invocations by outcome. */
interface VersionTally {
  readonly service: string;
  readonly version: string;
  ok: number;
  error: number;
}

/**
 * `stratus_invocation_duration_seconds` read from the tallies when scraped, in the shape
 * prom-client's own histograms give (so worker registries sum the same way).
 */
class TallyHistogram {
  readonly name = "stratus_invocation_duration_seconds";
  readonly help = "Time from taking a request to having its response (streamed bodies excluded), by service.";
  readonly type = "histogram";
  readonly aggregator = "sum";
  readonly #tallies: ReadonlyMap<string, ServiceTally>;
  constructor(tallies: ReadonlyMap<string, ServiceTally>) {
    this.#tallies = tallies;
  }
  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValueWithName<string>[] }> {
    const values: MetricValueWithName<string>[] = [];
    for (const t of this.#tallies.values()) {
      let cumulative = 0;
      for (let i = 0; i <= DURATION_BUCKETS.length; i++) {
        cumulative += t.buckets[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { le: DURATION_BUCKETS[i] ?? "+Inf", service: t.service }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels: { service: t.service }, value: t.sum });
      values.push({ metricName: `${this.name}_count`, labels: { service: t.service }, value: t.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, values, aggregator: this.aggregator });
  }
  reset(): void {
    // The tallies are the runtime's: they are not reset by a registry.
  }
}

/** The metrics of one runtime. */
export class Metrics {
  readonly registry = new Registry();
  readonly #runtime: GaugeSource;
  readonly #onInvocation: (msg: unknown) => void;
  readonly #onLimit: (msg: unknown) => void;
  readonly #onDelivery: (msg: unknown) => void;

  /** `eventsOwner`: count deliveries of the event bus with this owner (this process's bus). */
  constructor(runtime: GaugeSource, eventsOwner?: string) {
    this.#runtime = runtime;
    const r = [this.registry];
    // Per-invocation figures are plain numbers here, turned into Prometheus series only when
    // scraped: the runtime reports every request, and prom-client's labelled inc/observe cost
    // about a microsecond per request (docs/benchmarks.md).
    const perService = new Map<string, ServiceTally>();
    const perVersion = new Map<string, VersionTally>();
    new Counter({
      name: "stratus_invocations_total",
      help: "Invocations, by service.",
      labelNames: ["service"],
      registers: r,
      collect() {
        this.reset();
        for (const [service, t] of perService) this.inc({ service }, t.count);
      },
    });
    const errors = new Counter({
      name: "stratus_errors_total",
      help: "Failed invocations, by service and error code.",
      labelNames: ["service", "code"],
      registers: r,
    });
    this.registry.registerMetric(new TallyHistogram(perService) as unknown as Metric);
    const cold = new Counter({
      name: "stratus_cold_starts_total",
      help: "Invocations that started a new instance, by service.",
      labelNames: ["service"],
      registers: r,
    });
    const rejections = new Counter({
      name: "stratus_rejections_total",
      help: "Requests refused with 429 because the wait queue was full, by service.",
      labelNames: ["service"],
      registers: r,
    });
    const breaches = new Counter({
      name: "stratus_limit_breaches_total",
      help: "Instances stopped for breaching a limit (cpu, memory, timeout), by service.",
      labelNames: ["service", "limit"],
      registers: r,
    });
    const gauge = (name: string, help: string, pick: (s: ReturnType<GaugeSource["status"]>[number]) => number): void => {
      const src = this.#runtime;
      new Gauge({
        name,
        help,
        labelNames: ["service"],
        registers: r,
        collect() {
          this.reset();
          for (const s of src.status()) this.set({ service: s.service }, pick(s));
        },
      });
    };
    gauge("stratus_instances", "Instances, by service.", (s) => s.instances);
    gauge("stratus_instances_busy", "Instances serving at least one request, by service.", (s) => s.busy);
    gauge("stratus_in_flight", "Requests being served, by service.", (s) => s.inFlight);
    gauge("stratus_queued", "Requests waiting for an instance, by service.", (s) => s.queued);
    gauge("stratus_desired_instances", "Instances the autoscaler wants, by service (summed over worker processes).", (s) => s.desired);
    gauge("stratus_autoscaler_panic", "Worker processes whose autoscaler is in panic mode for the service.", (s) => (s.panic ? 1 : 0));
    const src = this.#runtime;
    new Gauge({
      name: "stratus_service_info",
      help: "The live version of each service (1 per worker process serving it).",
      labelNames: ["service", "version"],
      registers: r,
      collect() {
        this.reset();
        for (const s of src.status()) this.set({ service: s.service, version: s.version }, 1);
      },
    });

    new Gauge({
      name: "stratus_canary_instances",
      help: "Instances of a service's canary version, with its share of requests in percent as a label.",
      labelNames: ["service", "version", "percent"],
      registers: r,
      collect() {
        this.reset();
        for (const s of src.status())
          if (s.canary) this.set({ service: s.service, version: s.canary.version, percent: String(s.canary.percent) }, s.canary.instances);
      },
    });

    new Counter({
      name: "stratus_version_requests_total",
      help: "Invocations by service, version and outcome (error: status 500 or above); canary checks read it.",
      labelNames: ["service", "version", "outcome"],
      registers: r,
      collect() {
        this.reset();
        for (const t of perVersion.values()) {
          this.inc({ service: t.service, version: t.version, outcome: "ok" }, t.ok);
          this.inc({ service: t.service, version: t.version, outcome: "error" }, t.error);
        }
      },
    });
    let last: ServiceTally | undefined;
    let lastVersion: VersionTally | undefined;
    this.#onInvocation = (msg) => {
      const e = msg as InvocationEventLike;
      if (e.runtime !== runtime) return;
      // Consecutive invocations are mostly of one service and version: skip the map lookups then.
      let t = last;
      if (t?.service !== e.service) {
        t = perService.get(e.service);
        if (!t) perService.set(e.service, (t = new ServiceTally(e.service)));
        last = t;
      }
      t.observe(e.durationMs / 1000);
      if (e.version) {
        let v = lastVersion;
        if (v?.service !== e.service || v.version !== e.version) {
          const key = `${e.service}\0${e.version}`;
          v = perVersion.get(key);
          if (!v) perVersion.set(key, (v = { service: e.service, version: e.version, ok: 0, error: 0 }));
          lastVersion = v;
        }
        if (versionFailed(e)) v.error++;
        else v.ok++;
      }
      if (e.cold) cold.inc({ service: e.service });
      if (e.code === "STRATUS_E_OVERLOADED") rejections.inc({ service: e.service });
      if (e.code) errors.inc({ service: e.service, code: e.code });
    };
    this.#onLimit = (msg) => {
      const e = msg as LimitEventLike;
      if (e.runtime !== runtime) return;
      breaches.inc({ service: e.service, limit: LIMIT_NAMES[e.code] ?? e.code });
    };
    const events = new Counter({
      name: "stratus_events_total",
      help: "Event deliveries by subscription and outcome: delivered, failed (an attempt failed), retried (scheduled again), dead (dead-lettered).",
      labelNames: ["service", "subscription", "outcome"],
      registers: r,
    });
    this.#onDelivery = (msg) => {
      const e = msg as DeliveryEventLike;
      if (e.owner !== eventsOwner) return;
      const l = { service: e.service, subscription: e.subscription };
      if (e.delivered.length) events.inc({ ...l, outcome: "delivered" }, e.delivered.length);
      if (e.failed) events.inc({ ...l, outcome: "failed" }, e.failed);
      if (e.retried) events.inc({ ...l, outcome: "retried" }, e.retried);
      if (e.dead) events.inc({ ...l, outcome: "dead" }, e.dead);
    };
    diagnostics.subscribe("stratus:invocation", this.#onInvocation);
    diagnostics.subscribe("stratus:limit", this.#onLimit);
    if (eventsOwner !== undefined) diagnostics.subscribe("stratus:delivery", this.#onDelivery);
  }

  /** Stops listening (the registry keeps its values). */
  close(): void {
    diagnostics.unsubscribe("stratus:invocation", this.#onInvocation);
    diagnostics.unsubscribe("stratus:limit", this.#onLimit);
    diagnostics.unsubscribe("stratus:delivery", this.#onDelivery);
  }
}

/** Metric values as JSON, the form workers send to the supervisor. */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** Sums the registries of several worker processes into one. */
export function aggregateMetrics(perWorker: MetricsJson[]): Registry {
  return AggregatorRegistry.aggregate(perWorker);
}

/** One service's figures, summed over the worker processes. */
export interface ServiceFigures {
  service: string;
  versions: string[];
  instances: number;
  busy: number;
  inFlight: number;
  queued: number;
  invocations: number;
  errors: number;
  coldStarts: number;
  rejections: number;
  limitBreaches: number;
  /** Instances the autoscalers want, summed over workers. */
  desired: number;
  /** Worker processes in panic mode for this service. */
  panic: number;
  /** The canary beside the live version: its version, share and instances (summed over workers). */
  canary: { version: string; percent: number; instances: number } | null;
}

/** Reads per-service figures out of a (possibly aggregated) registry: what `stratus status` shows. */
export async function serviceFigures(registry: Registry): Promise<ServiceFigures[]> {
  const byService = new Map<string, ServiceFigures>();
  const get = (service: string): ServiceFigures => {
    let f = byService.get(service);
    if (!f) {
      f = {
        service,
        versions: [],
        instances: 0,
        busy: 0,
        inFlight: 0,
        queued: 0,
        invocations: 0,
        errors: 0,
        coldStarts: 0,
        rejections: 0,
        limitBreaches: 0,
        desired: 0,
        panic: 0,
        canary: null,
      };
      byService.set(service, f);
    }
    return f;
  };
  const fields: Record<string, keyof ServiceFigures> = {
    stratus_instances: "instances",
    stratus_instances_busy: "busy",
    stratus_in_flight: "inFlight",
    stratus_queued: "queued",
    stratus_invocations_total: "invocations",
    stratus_errors_total: "errors",
    stratus_cold_starts_total: "coldStarts",
    stratus_rejections_total: "rejections",
    stratus_limit_breaches_total: "limitBreaches",
    stratus_desired_instances: "desired",
    stratus_autoscaler_panic: "panic",
  };
  for (const metric of await registry.getMetricsAsJSON()) {
    const values = (metric as { values: { value: number; labels: Record<string, string | number> }[] }).values;
    for (const v of values) {
      const service = String(v.labels["service"] ?? "");
      if (!service) continue;
      if (metric.name === "stratus_canary_instances") {
        const f = get(service);
        const c = (f.canary ??= { version: String(v.labels["version"]), percent: Number(v.labels["percent"]), instances: 0 });
        c.instances += v.value;
        continue;
      }
      if (metric.name === "stratus_service_info") {
        const f = get(service);
        const version = String(v.labels["version"]);
        if (!f.versions.includes(version)) f.versions.push(version);
        continue;
      }
      const key = fields[metric.name];
      if (key) (get(service)[key] as number) += v.value;
    }
  }
  return [...byService.values()].sort((a, b) => a.service.localeCompare(b.service));
}
