/**
 * `stratus start`: a long-running node. Its data directory holds the registry (versions, tokens,
 * secrets, audit), the services' state and the event store; the same workers as `stratus dev`
 * serve the gateway, and a control API with bearer tokens takes plans, applies, deploys and
 * rollbacks. Applies and deploys are serialised and all-or-nothing: when any service fails to
 * load, the node goes back to what it ran before.
 */
import { chmodSync, existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { userInfo } from "node:os";
import { join } from "node:path";
import { type ResolvedService, type ResolvedStack } from "../config/index.ts";
import { chooseBackends, openEventStore, openRegistry, type Backends } from "../backends/index.ts";
import { ClusterWorkers, InProcessWorkers, type CanarySpec, type Workers } from "../dev/index.ts";
import { StratusError, toStratusError } from "../errors/index.ts";
import { passiveEventBus, type EventBus } from "../events/index.ts";
import {
  MasterKeys,
  type MasterKey,
  createToken,
  digestOf,
  planStack,
  serviceConfig,
  versionOf,
  type Plan,
  type Registry,
  type Role,
  type TokenInfo,
  type VersionRecord,
} from "../registry/index.ts";
import type { BundleRef, LoadOutcome } from "../stack/index.ts";
import type { LogBuffer, Logger } from "../telemetry/index.ts";
import { StackParser } from "./stack-limits.ts";

/** Options of NodeServer. */
export interface NodeServerOptions {
  dataDir: string;
  host: string;
  port: number;
  controlPort: number;
  /** Worker processes (1 serves from this process). */
  workers: number;
  logger: Logger;
  /** Lines for the operator (where the admin token is, the addresses). */
  print: (line: string) => void;
  json?: boolean;
  logLevel?: string;
  /** The clock of tokens, versions and the audit log (default Date.now). */
  clock?: () => number;
  /** Where `logger` also keeps its lines, for GET /v1/logs (worker processes keep their own). */
  logs?: LogBuffer;
}

/** A bundle as uploaded: its code and the sha256 the client computed. */
export interface Upload {
  service: string;
  code: string;
  digest: string;
}

/** The result of an apply, a deploy or a rollback. */
export interface ApplyResult {
  plan: Plan;
  outcomes: LoadOutcome[];
}

/** A canary's settings: its share, how it stays sticky, and when it is rolled back by itself. */
export interface CanaryOptions {
  /** Percent of the service's requests, 0 < percent < 100. */
  percent: number;
  sticky: { header: string } | { cookie: string } | null;
  /**
   * Roll back when the canary's error rate over the window is above the active version's rate
   * over the same window by more than this (default 0.05). Errors are the function's own failures:
   * status ≥ 500 from the function or its instance, never a client's or the platform's refusal.
   */
  maxErrorRate: number;
  /** The window the error rate is measured over, in ms (default 60 s). */
  windowMs: number;
  /** Requests the canary must have served in the window before the rate counts (default 20). */
  minRequests: number;
}

/** A canary's window: its requests and errors, and the active version's over the same time. */
export interface CanaryWindow {
  requests: number;
  errors: number;
  stableRequests: number;
  stableErrors: number;
}

/**
 * Whether a canary is rolled back: once it has served `minRequests` in the window, when its error
 * rate is above the active version's by more than `maxErrorRate`. Input that fails every version
 * alike (a client's bad request, a shared dependency down) raises both rates and decides nothing.
 */
export function canaryVerdict(
  w: CanaryWindow,
  o: Pick<CanaryOptions, "maxErrorRate" | "minRequests">,
): { rollback: boolean; errorRate: number; stableErrorRate: number } {
  const errorRate = w.requests > 0 ? w.errors / w.requests : 0;
  const stableErrorRate = w.stableRequests > 0 ? w.stableErrors / w.stableRequests : 0;
  return { rollback: w.requests >= o.minRequests && errorRate - stableErrorRate > o.maxErrorRate, errorRate, stableErrorRate };
}

/** A running canary as the registry keeps it. */
interface CanaryRecord extends CanaryOptions {
  version: string;
  started: number;
}

/** The service config a version was stored with (its entry file is not on the node). */
function serviceOf(v: VersionRecord): ResolvedService {
  return { ...(JSON.parse(v.config) as Omit<ResolvedService, "entry">), entry: "" };
}

/** Why a stored version cannot be trusted (its code or config was altered after it was stored), or null. */
function damage(v: VersionRecord): string | null {
  const digest = digestOf(v.code);
  if (digest === v.digest && versionOf(v.digest, v.config) === v.version) return null;
  return `the stored code of ${v.service}@${v.version} does not match its digest (stored ${v.digest.slice(0, 12)}, content ${digest.slice(0, 12)}): the registry was altered outside Stratus; that version is refused. Apply or deploy the service's bundle again to repair it`;
}

/** The resolved stack and active versions the node runs. */
interface Running {
  stack: ResolvedStack;
  active: Record<string, string>;
}

/**
 * Mints an admin token and writes it to DATA/admin-token (0600, written to a temporary name and
 * renamed, so a reader never sees half a token); audited. Returns the file's path.
 */
export async function writeAdminToken(
  registry: Registry,
  dataDir: string,
  name: string,
  actor: string,
  detail: Record<string, unknown>,
  now: number,
): Promise<string> {
  const { token, info } = await createToken(registry, name, "admin", now, null);
  const file = join(dataDir, "admin-token");
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, file);
  await registry.audit({ at: now, actor, action: "token.create", detail: { id: info.id, name, role: "admin", ...detail } });
  return file;
}

/**
 * `stratus tokens recover`: a new admin token for a node whose admin tokens are all revoked or
 * expired. It needs local access to the data directory (that is the proof of ownership) and is
 * audited as "token.recover".
 */
export async function recoverAdmin(dataDir: string, now = Date.now()): Promise<string> {
  if (!existsSync(join(dataDir, "registry.sqlite"))) {
    throw new StratusError("STRATUS_E_CLI_USAGE", `${dataDir} holds no node registry (registry.sqlite); pass the --data directory of the node`);
  }
  const registry = openRegistry(nodeBackends(dataDir).registry);
  try {
    const file = await writeAdminToken(registry, dataDir, "recovered-admin", "local", { recover: true }, now);
    await registry.audit({ at: now, actor: "local", action: "token.recover", detail: { user: userName(), file } });
    return file;
  } finally {
    await registry.close();
  }
}

/** A node's backends, chosen from its data directory; a node always has a registry. */
function nodeBackends(dataDir: string): Backends & { registry: NonNullable<Backends["registry"]> } {
  const b = chooseBackends({ dataDir });
  if (!b.registry) throw new StratusError("STRATUS_E_INTERNAL", "a node's backends have no registry");
  return { ...b, registry: b.registry };
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? "unknown");
  }
}

/** The node. */
export class NodeServer {
  readonly #o: NodeServerOptions;
  readonly registry: Registry;
  readonly #backends: Backends & { registry: NonNullable<Backends["registry"]> };
  readonly keys: MasterKeys;
  #workers!: Workers;
  events!: EventBus;
  #running: Running | null = null;
  #canaries = new Map<string, CanaryRecord>();
  /** Per canary: (time, ok, error) samples of its request counters, for the error-rate window. */
  readonly #samples = new Map<string, { t: number; ok: number; error: number; stableOk: number; stableError: number }[]>();
  /** Per canary: the figures its last check judged. */
  readonly #windows = new Map<string, CanaryWindow & { checked: number }>();
  #monitor: NodeJS.Timeout | null = null;
  /** Who holds the apply lock, and since when. */
  #busy: { actor: string; action: string; since: number } | null = null;
  port = 0;
  #announced = false;
  readonly #parser = new StackParser();
  readonly #clock: () => number;

  constructor(opts: NodeServerOptions) {
    this.#o = opts;
    this.#clock = opts.clock ?? Date.now;
    mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
    this.#backends = nodeBackends(opts.dataDir);
    this.registry = openRegistry(this.#backends.registry);
    this.keys = new MasterKeys(opts.dataDir);
  }

  /** The stack the node runs, or null. */
  get running(): Running | null {
    return this.#running;
  }

  /**
   * On the first start of a new registry (one that never had a token): an admin token in
   * DATA/admin-token (0600). A registry that has tokens but no usable admin gets none: minting one
   * would let anyone who can restart the node undo a revocation. Returns the path, or null.
   */
  async #bootstrap(): Promise<string | null> {
    const all = await this.registry.tokens();
    if (all.length > 0) {
      const now = this.#clock();
      if (!all.some((t) => t.role === "admin" && t.revoked === null && (t.expires === null || t.expires > now))) {
        this.#o.print(
          `no admin token of this node is active (all revoked or expired), and none is minted on a restart; with local access to the data directory, run: stratus tokens recover --data ${this.#o.dataDir}`,
        );
      }
      return null;
    }
    return writeAdminToken(this.registry, this.#o.dataDir, "admin", "node", { bootstrap: true }, this.#clock());
  }

  /**
   * Called once the control API listens: on a first start, the admin token is minted and written
   * now, so a script that waits for DATA/admin-token finds a node that answers.
   */
  async ready(): Promise<void> {
    if (this.#announced) return;
    this.#announced = true;
    const tokenFile = await this.#bootstrap();
    if (tokenFile) this.#o.print(`first start: an admin token is in ${tokenFile} (mode 0600); export STRATUS_TOKEN=$(cat ${tokenFile})`);
  }

  /** Starts the workers, restores the applied stack, and serves the gateway. */
  async start(): Promise<number> {
    const o = this.#o;
    const backends = this.#backends;
    this.#workers =
      o.workers > 1
        ? new ClusterWorkers({
            count: o.workers,
            backends,
            json: o.json ?? true,
            logger: o.logger,
            logBuffer: true,
            ...(o.logLevel ? { logLevel: o.logLevel } : {}),
          })
        : new InProcessWorkers({ backends, logger: o.logger });
    if (this.#workers instanceof InProcessWorkers) this.events = this.#workers.host.events;
    else {
      this.events = passiveEventBus(openEventStore(backends.events), o.logger);
    }
    const applied = await this.registry.stack();
    if (applied) {
      const stack = JSON.parse(applied.yaml) as ResolvedStack;
      const outcomes = await this.#load(stack, applied.active);
      const failed = outcomes.filter((x) => x.status === "failed");
      for (const f of failed) if (f.status === "failed") o.print(`service "${f.service}" failed to start (${f.error.code}): ${f.error.message}`);
      this.#running = { stack, active: applied.active };
      const saved = JSON.parse((await this.registry.meta("canaries")) ?? "{}") as Record<string, CanaryRecord>;
      for (const [service, c] of Object.entries(saved)) {
        try {
          await this.#startCanary(service, c);
          this.#canaries.set(service, c);
        } catch (err) {
          o.print(`the canary of "${service}" (${c.version}) could not be restarted: ${(err as Error).message}`);
        }
      }
      await this.#saveCanaries();
    }
    this.port = await this.#workers.listen(o.port, o.host);
    this.#monitor = setInterval(
      () =>
        void this.#checkCanaries().catch((err: unknown) => {
          const e = toStratusError(err);
          o.logger.error({ code: e.code }, `the canary check failed: ${e.message}`);
        }),
      1000,
    );
    this.#monitor.unref();
    return this.port;
  }

  /** The secrets a stack's services are granted, opened. */
  async #secretsFor(stack: ResolvedStack): Promise<Map<string, string>> {
    const wanted = new Set(stack.services.flatMap((s) => Object.values(s.bindings).flatMap((b) => (b.kind === "secret" ? [b.secret] : []))));
    const out = new Map<string, string>();
    for (const s of await this.registry.secrets()) if (wanted.has(s.name)) out.set(s.name, this.keys.open(s));
    return out;
  }

  /**
   * Loads `stack` with the stored code of `active` versions into every worker. Stored code is
   * checked against its digest (and the version id against digest and config) first: a version
   * whose stored record was altered fails to load with STRATUS_E_CODE_DAMAGED.
   */
  async #load(stack: ResolvedStack, active: Record<string, string>): Promise<LoadOutcome[]> {
    const bundles: BundleRef[] = [];
    const damaged = new Map<string, LoadOutcome>();
    for (const s of stack.services) {
      const v = await this.registry.version(s.name, active[s.name] ?? "");
      if (!v) continue;
      const problem = damage(v);
      if (problem) damaged.set(s.name, { service: s.name, status: "failed", error: { code: "STRATUS_E_CODE_DAMAGED", message: problem } });
      else bundles.push({ service: s.name, code: v.code, hash: v.version });
    }
    for (const d of damaged.values())
      this.#o.logger.error({ service: d.service, code: "STRATUS_E_CODE_DAMAGED" }, d.status === "failed" ? d.error.message : "");
    const loaded = await this.#workers.load(stack, bundles, await this.#secretsFor(stack));
    const outcomes = loaded.map((x) => damaged.get(x.service) ?? x);
    // The in-process bus was configured by the load; a passive one (beside worker processes) is here.
    if (!(this.#workers instanceof InProcessWorkers)) await this.events.configure(stack);
    return outcomes;
  }

  /**
   * Parses a stack file sent by a client (its entries are not here: the bundles come with it),
   * bounded by STACK_LIMITS and off this thread's event loop.
   */
  #parse(yaml: string): Promise<ResolvedStack> {
    return this.#parser.parse(yaml, join(this.#o.dataDir, "stratus.yaml"));
  }

  /** Checks uploads against the stack: one per service, digests right, secrets present. */
  async #check(stack: ResolvedStack, uploads: readonly { service: string; digest: string; code?: string }[], only?: string): Promise<void> {
    const names = new Set(stack.services.map((s) => s.name));
    for (const u of uploads) {
      if (!names.has(u.service)) throw new StratusError("STRATUS_E_CONFIG_INVALID", `a bundle was sent for "${u.service}", which is not in the stack file`);
      if (u.code !== undefined && digestOf(u.code) !== u.digest) {
        throw new StratusError(
          "STRATUS_E_DIGEST_MISMATCH",
          `the bundle of "${u.service}" does not match its digest (sent ${u.digest.slice(0, 12)}, content ${digestOf(u.code).slice(0, 12)}); the upload was damaged or altered, send it again`,
        );
      }
    }
    for (const s of stack.services) {
      if ((only === undefined || only === s.name) && !uploads.some((u) => u.service === s.name)) {
        throw new StratusError("STRATUS_E_CONFIG_INVALID", `no bundle was sent for service "${s.name}"; build every service of the stack (stratus apply does)`);
      }
    }
    const have = new Set((await this.registry.secrets()).map((s) => s.name));
    for (const s of stack.services) {
      if (only !== undefined && only !== s.name) continue;
      for (const [binding, b] of Object.entries(s.bindings)) {
        if (b.kind === "secret" && !have.has(b.secret)) {
          throw new StratusError(
            "STRATUS_E_SECRETS",
            `services.${s.name}.bindings.${binding} needs secret "${b.secret}", which this node does not have; set it first: stratus secrets set ${b.secret}`,
          );
        }
      }
    }
  }

  #versionsOf(stack: ResolvedStack, uploads: readonly { service: string; digest: string }[], keep: Record<string, string> = {}): Record<string, string> {
    const out: Record<string, string> = {};
    for (const s of stack.services) {
      const u = uploads.find((x) => x.service === s.name);
      out[s.name] = u ? versionOf(u.digest, serviceConfig(s)) : keep[s.name]!;
    }
    return out;
  }

  /** What applying `yaml` with bundles of these digests would change. */
  async plan(yaml: string, uploads: readonly { service: string; digest: string }[]): Promise<Plan> {
    const stack = await this.#parse(yaml);
    await this.#check(stack, uploads);
    return planStack(this.#current(), stack, this.#versionsOf(stack, uploads));
  }

  #current(): { stack: ResolvedStack | null; active: Record<string, string> } {
    return { stack: this.#running?.stack ?? null, active: this.#running?.active ?? {} };
  }

  /** Runs `fn` holding the node's apply lock; a second caller is told who holds it. */
  async #locked<T>(actor: string, action: string, fn: () => Promise<T>): Promise<T> {
    if (this.#busy) {
      const b = this.#busy;
      throw new StratusError(
        "STRATUS_E_APPLY_CONFLICT",
        `another ${b.action} (by "${b.actor}", started ${new Date(b.since).toISOString()}) is running on this node; retry when it finishes`,
      );
    }
    this.#busy = { actor, action, since: this.#clock() };
    try {
      return await fn();
    } finally {
      this.#busy = null;
    }
  }

  /**
   * Makes `stack` with `active` versions what the node runs, or nothing at all: when a service
   * fails to load, the previous stack is loaded again and the failure is thrown.
   */
  async #switch(stack: ResolvedStack, active: Record<string, string>, actor: string, action: string, plan: Plan): Promise<ApplyResult> {
    const outcomes = await this.#load(stack, active);
    const failed = outcomes.filter((x) => x.status === "failed");
    if (failed.length > 0) {
      if (this.#running) await this.#load(this.#running.stack, this.#running.active);
      else await this.#load({ ...stack, services: [], topics: [] }, {});
      await this.registry.audit({ at: this.#clock(), actor, action: `${action}.failed`, detail: { failed: failed.map((f) => f.service) } });
      throw new StratusError(
        "STRATUS_E_DEPLOY_FAILED",
        `${action} refused, nothing changed: ${failed.map((f) => (f.status === "failed" ? `service "${f.service}" (${f.error.code}): ${f.error.message.split("\n")[0]}` : "")).join("; ")}`,
      );
    }
    await this.registry.setStack(
      { name: stack.name, yaml: JSON.stringify(stack), active, applied: this.#clock() },
      {
        at: this.#clock(),
        actor,
        action,
        detail: { stack: stack.name, versions: active, changes: plan.changes.map((c) => `${c.action} ${c.kind} ${c.name}`) },
      },
    );
    this.#running = { stack, active };
    return { plan, outcomes };
  }

  /** Stores the uploaded versions; returns the ones that are new (a refused apply deletes them again). */
  async #store(stack: ResolvedStack, uploads: readonly Upload[], versions: Record<string, string>): Promise<{ service: string; version: string }[]> {
    const added: { service: string; version: string }[] = [];
    for (const u of uploads) {
      if (!(await this.registry.version(u.service, versions[u.service]!))) added.push({ service: u.service, version: versions[u.service]! });
      const svc = stack.services.find((s) => s.name === u.service)!;
      const v: VersionRecord = {
        service: u.service,
        version: versions[u.service]!,
        created: this.#clock(),
        digest: u.digest,
        code: u.code,
        config: serviceConfig(svc),
      };
      await this.registry.putVersion(v);
    }
    return added;
  }

  /** Forgets versions a refused apply, deploy or canary stored: `stratus versions` lists only versions that ran. */
  async #forget(added: readonly { service: string; version: string }[]): Promise<void> {
    for (const a of added) await this.registry.deleteVersion(a.service, a.version);
  }

  /** Applies a whole stack: every service's bundle comes with it. */
  async apply(yaml: string, uploads: readonly Upload[], actor: string): Promise<ApplyResult> {
    const stack = await this.#parse(yaml);
    await this.#check(stack, uploads);
    const running = this.#running;
    if (running && running.stack.name !== stack.name) {
      throw new StratusError(
        "STRATUS_E_CONFIG_INVALID",
        `this node runs stack "${running.stack.name}", and the stack file names "${stack.name}"; a node runs one stack: destroy "${running.stack.name}" first (stratus destroy), or use another node`,
      );
    }
    return this.#locked(actor, "apply", async () => {
      // An apply decides every service's version: running canaries end.
      for (const svc of [...this.#canaries.keys()]) await this.#endCanary(svc, actor, "canary.end", { by: "apply" });
      const versions = this.#versionsOf(stack, uploads);
      const plan = planStack(this.#current(), stack, versions);
      const added = await this.#store(stack, uploads, versions);
      return this.#switch(stack, versions, actor, "apply", plan).catch(async (err: unknown) => {
        await this.#forget(added);
        throw err;
      });
    });
  }

  async #saveCanaries(): Promise<void> {
    await this.registry.setMeta("canaries", JSON.stringify(Object.fromEntries(this.#canaries)));
  }

  /** Starts a recorded canary in every worker (the version's code and config from the registry). */
  async #startCanary(service: string, c: CanaryRecord): Promise<void> {
    const v = await this.registry.version(service, c.version);
    if (!v) throw new StratusError("STRATUS_E_VERSION_UNKNOWN", `no version ${c.version} of "${service}"`);
    const problem = damage(v);
    if (problem) throw new StratusError("STRATUS_E_CODE_DAMAGED", problem);
    const config = serviceOf(v);
    const spec: CanarySpec = { config, bundle: { service, code: v.code, hash: v.version }, percent: c.percent, sticky: c.sticky };
    await this.#workers.canary(service, spec);
  }

  /** The canaries running, by service. */
  canaries(): Record<string, CanaryRecord> {
    return Object.fromEntries(this.#canaries);
  }

  /** Ends a canary (traffic back to the active version). */
  async #endCanary(service: string, actor: string, action: string, detail: Record<string, unknown> = {}): Promise<void> {
    const c = this.#canaries.get(service);
    if (!c) return;
    await this.#workers.canary(service, null);
    this.#canaries.delete(service);
    this.#samples.delete(service);
    this.#windows.delete(service);
    await this.#saveCanaries();
    await this.registry.audit({ at: this.#clock(), actor, action, detail: { service, version: c.version, ...detail } });
  }

  /** A version's request counters (ok, error), summed over the workers. */
  async #counters(): Promise<(service: string, version: string) => { ok: number; error: number }> {
    const registry = await this.#workers.metrics();
    const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === "stratus_version_requests_total") as
      { values: { value: number; labels: Record<string, string | number> }[] } | undefined;
    return (service, version) => {
      let ok = 0;
      let error = 0;
      for (const v of metric?.values ?? []) {
        if (v.labels["service"] !== service || v.labels["version"] !== version) continue;
        if (v.labels["outcome"] === "error") error += v.value;
        else ok += v.value;
      }
      return { ok, error };
    };
  }

  /**
   * Reads every canary's request counters and rolls back one that fails more than the active
   * version does: over the same window, the canary's error rate must pass `maxErrorRate` above
   * the active version's. Judged against the active version, requests that fail on any version
   * (a client's bad input) cannot decide a deploy.
   */
  async #checkCanaries(): Promise<void> {
    if (this.#canaries.size === 0 || this.#busy) return;
    const read = await this.#counters();
    const now = this.#clock();
    for (const [service, c] of this.#canaries) {
      const stableVersion = this.#running?.active[service] ?? "";
      const cur = read(service, c.version);
      const st = read(service, stableVersion);
      const samples = this.#samples.get(service) ?? [];
      samples.push({ t: now, ok: cur.ok, error: cur.error, stableOk: st.ok, stableError: st.error });
      while (samples.length > 1 && samples[1]!.t <= now - c.windowMs) samples.shift();
      this.#samples.set(service, samples);
      const first = samples[0]!;
      const w = {
        requests: cur.ok + cur.error - first.ok - first.error,
        errors: cur.error - first.error,
        stableRequests: st.ok + st.error - first.stableOk - first.stableError,
        stableErrors: st.error - first.stableError,
      };
      const verdict = canaryVerdict(w, c);
      this.#windows.set(service, { ...w, checked: now });
      if (verdict.rollback) {
        const pct = (x: number): number => Math.round(x * 1000) / 10;
        this.#o.logger.warn(
          {
            service,
            version: c.version,
            ...w,
            errorRatePercent: pct(verdict.errorRate),
            stableErrorRatePercent: pct(verdict.stableErrorRate),
            maxErrorRatePercent: c.maxErrorRate * 100,
          },
          "canary rolled back: its error rate is over the active version's by more than the threshold",
        );
        await this.#locked("node", "canary rollback", () =>
          this.#endCanary(service, "node", "canary.auto-rollback", {
            ...w,
            errorRate: verdict.errorRate,
            stableErrorRate: verdict.stableErrorRate,
            maxErrorRate: c.maxErrorRate,
          }),
        ).catch(() => undefined);
      }
    }
  }

  /** The figures of each canary's last check (its window and the active version's), for status. */
  canaryWindows(): Record<string, CanaryWindow & { checked: number }> {
    return Object.fromEntries(this.#windows);
  }

  /** Makes the canary's version the active one for all requests. */
  async promote(service: string, actor: string): Promise<ApplyResult> {
    const c = this.#canaries.get(service);
    const running = this.#running;
    if (!c || !running)
      throw new StratusError(
        "STRATUS_E_VERSION_UNKNOWN",
        `service "${service}" has no canary to promote; start one with stratus deploy ${service} --canary 10`,
      );
    return this.#locked(actor, "promote", async () => {
      const v = await this.registry.version(service, c.version);
      if (!v) throw new StratusError("STRATUS_E_VERSION_UNKNOWN", `no version ${c.version} of "${service}"`);
      const problem = damage(v);
      if (problem) throw new StratusError("STRATUS_E_CODE_DAMAGED", problem);
      const svc = serviceOf(v);
      const stack: ResolvedStack = { ...running.stack, services: running.stack.services.map((s) => (s.name === service ? svc : s)) };
      const active = { ...running.active, [service]: c.version };
      const plan = planStack(this.#current(), stack, active);
      const r = await this.#switch(stack, active, actor, "promote", plan);
      await this.#endCanary(service, actor, "canary.end", { promoted: true });
      return r;
    });
  }

  /** Deploys one service's code and config (from the client's stack file); the others stay as they run. With `canary`, only a share of its requests go to it. */
  async deploy(service: string, yaml: string, upload: Upload, actor: string, canary?: CanaryOptions): Promise<ApplyResult> {
    if (canary) return this.#deployCanary(service, yaml, upload, actor, canary);
    const local = await this.#parse(yaml);
    const svc = local.services.find((s) => s.name === service);
    if (!svc)
      throw new StratusError(
        "STRATUS_E_CONFIG_INVALID",
        `service "${service}" is not in the stack file; the services there: ${local.services.map((s) => s.name).join(", ")}`,
      );
    if (upload.service !== service) throw new StratusError("STRATUS_E_CONFIG_INVALID", `the bundle sent is for "${upload.service}", not "${service}"`);
    await this.#check(local, [upload], service);
    return this.#locked(actor, "deploy", async () => {
      const base = this.#running?.stack ?? { ...local, services: [], topics: [] };
      const services = base.services.some((s) => s.name === service) ? base.services.map((s) => (s.name === service ? svc : s)) : [...base.services, svc];
      const topics = [...base.topics, ...local.topics.filter((t) => !base.topics.some((b) => b.name === t.name))];
      const stack: ResolvedStack = { ...base, services, topics };
      const active = { ...(this.#running?.active ?? {}) };
      const versions = { ...active, [service]: versionOf(upload.digest, serviceConfig(svc)) };
      const plan = planStack(this.#current(), stack, versions);
      const added = await this.#store(stack, [upload], versions);
      return this.#switch(stack, versions, actor, "deploy", plan).catch(async (err: unknown) => {
        await this.#forget(added);
        throw err;
      });
    });
  }

  async #deployCanary(service: string, yaml: string, upload: Upload, actor: string, canary: CanaryOptions): Promise<ApplyResult> {
    const local = await this.#parse(yaml);
    const svc = local.services.find((s) => s.name === service);
    if (!svc) throw new StratusError("STRATUS_E_CONFIG_INVALID", `service "${service}" is not in the stack file`);
    const running = this.#running;
    if (!running || !(service in running.active)) {
      throw new StratusError(
        "STRATUS_E_VERSION_UNKNOWN",
        `service "${service}" is not running on this node: a canary runs beside an active version; deploy it without --canary first`,
      );
    }
    if (!(canary.percent > 0 && canary.percent < 100))
      throw new StratusError("STRATUS_E_CLI_USAGE", `--canary takes a percentage between 0 and 100 (exclusive), got ${canary.percent}`);
    await this.#check(local, [upload], service);
    return this.#locked(actor, "canary", async () => {
      const version = versionOf(upload.digest, serviceConfig(svc));
      if (version === running.active[service]) {
        throw new StratusError(
          "STRATUS_E_DEPLOY_FAILED",
          `canary refused: ${service}@${version} is already the active version (the same code and config); change the service, then deploy it with --canary`,
        );
      }
      const added = await this.#store(local, [upload], { [service]: version });
      const record: CanaryRecord = { ...canary, version, started: this.#clock() };
      try {
        await this.#startCanary(service, record);
      } catch (err) {
        await this.#forget(added);
        await this.#workers.canary(service, null).catch(() => undefined);
        const prev = this.#canaries.get(service);
        if (prev) await this.#startCanary(service, prev).catch(() => undefined);
        throw new StratusError("STRATUS_E_DEPLOY_FAILED", `canary refused, nothing changed: service "${service}": ${(err as Error).message.split("\n")[0]}`);
      }
      this.#canaries.set(service, record);
      // The error-rate window starts from the version's counters as they are now.
      const read = await this.#counters();
      const now = read(service, version);
      const st = read(service, this.#running?.active[service] ?? "");
      this.#samples.set(service, [{ t: this.#clock(), ...now, stableOk: st.ok, stableError: st.error }]);
      this.#windows.delete(service);
      await this.#saveCanaries();
      await this.registry.audit({
        at: this.#clock(),
        actor,
        action: "canary.start",
        detail: { service, version, percent: canary.percent, sticky: canary.sticky, maxErrorRate: canary.maxErrorRate, windowMs: canary.windowMs },
      });
      const plan = planStack(this.#current(), running.stack, running.active);
      return { plan: { ...plan, versions: { ...plan.versions, [service]: version } }, outcomes: [] };
    });
  }

  /** Versions of a service, newest first, with the active one marked. */
  async versions(service: string): Promise<{ version: string; created: number; digest: string; active: boolean }[]> {
    const list = await this.registry.versions(service);
    if (list.length === 0) throw new StratusError("STRATUS_E_VERSION_UNKNOWN", `no versions of service "${service}" on this node`);
    const active = this.#running?.active[service];
    return list.map((v) => ({ version: v.version, created: v.created, digest: v.digest, active: v.version === active }));
  }

  /** Makes an earlier version active again (the one before the active one, or `to`). */
  async rollback(service: string, to: string | undefined, actor: string): Promise<ApplyResult> {
    const running = this.#running;
    if (to === undefined && this.#canaries.has(service) && running) {
      // Rolling back a canary ends it: every request goes to the active version again.
      await this.#locked(actor, "rollback", () => this.#endCanary(service, actor, "canary.rollback"));
      return { plan: planStack(this.#current(), running.stack, running.active), outcomes: [] };
    }
    if (!running || !running.stack.services.some((s) => s.name === service)) {
      throw new StratusError("STRATUS_E_VERSION_UNKNOWN", `service "${service}" is not running on this node`);
    }
    const current = running.active[service];
    let target: VersionRecord | null;
    if (to !== undefined) {
      target = await this.registry.version(service, to);
      if (!target) {
        const known = (await this.registry.versions(service)).map((v) => v.version);
        throw new StratusError(
          "STRATUS_E_VERSION_UNKNOWN",
          `service "${service}" has no version "${to}"; it has ${known.join(", ")} (stratus versions ${service})`,
        );
      }
    } else {
      target = await this.#previous(service, current);
      if (!target) throw new StratusError("STRATUS_E_VERSION_UNKNOWN", `service "${service}" has no version before ${current ?? "(none)"} to roll back to`);
    }
    const t = target;
    return this.#locked(actor, "rollback", async () => {
      const svc = serviceOf(t);
      const stack: ResolvedStack = { ...running.stack, services: running.stack.services.map((s) => (s.name === service ? svc : s)) };
      const active = { ...running.active, [service]: t.version };
      const plan = planStack(this.#current(), stack, active);
      return this.#switch(stack, active, actor, "rollback", plan);
    });
  }

  /** The version that was active before `current`, from the audit log of applies, deploys and rollbacks. */
  async #previous(service: string, current: string | undefined): Promise<VersionRecord | null> {
    for (const e of await this.registry.auditLog(1000)) {
      if (!["apply", "deploy", "rollback"].includes(e.action)) continue;
      const v = (e.detail["versions"] as Record<string, string> | undefined)?.[service];
      if (v && v !== current) return await this.registry.version(service, v);
    }
    return null;
  }

  /** Removes every service of the running stack. */
  async destroy(actor: string): Promise<{ removed: string[] }> {
    const running = this.#running;
    if (!running) return { removed: [] };
    return this.#locked(actor, "destroy", async () => {
      for (const svc of [...this.#canaries.keys()]) await this.#endCanary(svc, actor, "canary.end", { by: "destroy" });
      await this.#load({ ...running.stack, services: [], topics: [] }, {});
      await this.registry.setStack(null, {
        at: this.#clock(),
        actor,
        action: "destroy",
        detail: { stack: running.stack.name, removed: running.stack.services.map((s) => s.name) },
      });
      this.#running = null;
      return { removed: running.stack.services.map((s) => s.name) };
    });
  }

  /** Sets a secret (sealed with the master key); services that use it get new instances. */
  async setSecret(name: string, value: string, actor: string): Promise<void> {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(name))
      throw new StratusError("STRATUS_E_SECRETS", `secret name "${name}" is not valid; use letters, digits and _, e.g. STRIPE_KEY`);
    if (value.length === 0)
      throw new StratusError("STRATUS_E_SECRETS", `secret "${name}" is empty; pipe the value on stdin: printf %s "$VALUE" | stratus secrets set ${name}`);
    await this.#locked(actor, "secret.set", async () => {
      await this.registry.putSecret(this.keys.seal(name, value, this.#clock()));
      await this.registry.audit({ at: this.#clock(), actor, action: "secret.set", detail: { name } });
      if (this.#running) await this.#load(this.#running.stack, this.#running.active);
    });
  }

  /** Deletes a secret; refused while a running service uses it. */
  async deleteSecret(name: string, actor: string): Promise<void> {
    const users = (this.#running?.stack.services ?? []).filter((s) => Object.values(s.bindings).some((b) => b.kind === "secret" && b.secret === name));
    if (users.length > 0) {
      throw new StratusError(
        "STRATUS_E_SECRETS",
        `secret "${name}" is used by ${users.map((u) => `"${u.name}"`).join(", ")}; remove the binding (stratus apply) first`,
      );
    }
    // Under the lock, like every secret write: a rotation re-seals the set of secrets it read.
    await this.#locked(actor, "secret.delete", async () => {
      if (!(await this.registry.deleteSecret(name))) throw new StratusError("STRATUS_E_SECRETS", `no secret "${name}" on this node`);
      await this.registry.audit({ at: this.#clock(), actor, action: "secret.delete", detail: { name } });
    });
  }

  /** Rotates the master key and re-seals every secret under it (key-file mode), holding the lock. */
  async rotateMasterKey(actor: string): Promise<MasterKey> {
    return this.#locked(actor, "secrets.rotate", async () => {
      const k = await this.keys.rotate(this.registry, this.#clock());
      await this.registry.audit({ at: this.#clock(), actor, action: "secrets.rotate", detail: { keyId: k.id } });
      return k;
    });
  }

  /** Creates a token (the secret part is returned once). */
  async createToken(name: string, role: Role, ttlMs: number | null, actor: string): Promise<{ token: string; info: TokenInfo }> {
    const t = await createToken(this.registry, name, role, this.#clock(), ttlMs);
    await this.registry.audit({ at: this.#clock(), actor, action: "token.create", detail: { id: t.info.id, name, role } });
    return t;
  }

  async revokeToken(id: string, actor: string): Promise<void> {
    if (!(await this.registry.revokeToken(id, this.#clock())))
      throw new StratusError("STRATUS_E_CLI_USAGE", `no token "${id}"; list them with "stratus tokens list"`);
    await this.registry.audit({ at: this.#clock(), actor, action: "token.revoke", detail: { id } });
  }

  /** Recent log records of the node and its workers, oldest first. */
  async logs(opts: { since?: number; service?: string; limit?: number }): Promise<Record<string, unknown>[]> {
    const limit = opts.limit ?? 200;
    const mine = this.#o.logs?.read({ ...opts, limit }) ?? [];
    const theirs = await this.#workers.logs({ ...opts, limit });
    return [...mine, ...theirs].sort((a, b) => Number(a["time"] ?? 0) - Number(b["time"] ?? 0)).slice(-limit);
  }

  /** Metrics of every worker, summed. */
  metrics(): ReturnType<Workers["metrics"]> {
    return this.#workers.metrics();
  }

  /** Stops serving (in-flight requests finish) and closes the registry. */
  async stop(): Promise<void> {
    if (this.#monitor) clearInterval(this.#monitor);
    await this.#workers?.close();
    if (!(this.#workers instanceof InProcessWorkers)) {
      await this.events?.close();
      await this.events?.store.close();
    }
    await this.#parser.close();
    await this.registry.close();
  }
}
