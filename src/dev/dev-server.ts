/**
 * `stratus dev`: loads the stack, builds every service, serves it on worker processes, watches
 * the project and swaps in only the services whose code or config changed. A service that fails
 * to build keeps serving its previous version, and the error is printed.
 */
import { statSync, watch, type FSWatcher } from "node:fs";
import { dirname, join, relative } from "node:path";
import { isDeepStrictEqual } from "node:util";
import { buildStack } from "../build/index.ts";
import { loadStack, type ResolvedStack } from "../config/index.ts";
import { ControlServer } from "../control/index.ts";
import { StratusError } from "../errors/index.ts";
import { chooseBackends, openEventStore } from "../backends/index.ts";
import { passiveEventBus, type EventBus } from "../events/index.ts";
import { secretsFromEnv, type BundleRef, type LoadOutcome } from "../stack/index.ts";
import type { Logger } from "../telemetry/index.ts";
import { ClusterWorkers } from "./cluster.ts";
import { InProcessWorkers, type Workers } from "./workers.ts";

/** Options of DevServer. */
export interface DevServerOptions {
  /** Project directory (holds stratus.yaml). */
  dir: string;
  /** Gateway port (0 picks a free one). */
  port: number;
  host: string;
  /** Worker processes; 1 serves from this process. */
  workers: number;
  /** JSON log lines instead of pretty ones. */
  json: boolean;
  /** Log level of the workers (default "info"). */
  logLevel?: string;
  /** Replace a worker process gracefully past this resident memory, in MB (default 1536). */
  maxWorkerRssMb?: number;
  /** Rebuild on file changes (default true). */
  watch?: boolean;
  /** Port of the control API (/metrics, /v1/status); undefined: none. 0 picks a free port. */
  controlPort?: number;
  /**
   * Address of the control API (default 127.0.0.1, whatever `host` is: it can publish and replay
   * events, so it is not exposed with the gateway). Beyond loopback it needs `controlToken`.
   */
  controlHost?: string;
  /** Bearer token the control API requires (needed when controlHost is not a loopback address). */
  controlToken?: string;
  /** Data directory (default <dir>/.stratus). */
  dataDir?: string;
  logger: Logger;
  /** Where user-facing lines (route table, reloads, build errors) go. */
  print: (line: string) => void;
}

/** The dev server. */
export class DevServer {
  readonly #o: DevServerOptions;
  #stack!: ResolvedStack;
  readonly #bundles = new Map<string, BundleRef>();
  #workers!: Workers;
  #control: ControlServer | null = null;
  #controlHost = "127.0.0.1";
  #events!: EventBus;
  #ownEvents = false;
  /** The bound control port, when there is a control API. */
  controlPort: number | null = null;
  readonly #watchers = new Map<string, FSWatcher>();
  #inputs = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #building: Promise<void> | null = null;
  #dirty = false;
  /** Serving (rebuilds may run); before that, a change only sets #early. */
  #serving = false;
  /** A watched file changed during start: rebuild as soon as the stack serves. */
  #early = false;
  #stopped = false;
  /** Services with a version that loaded (a failed reload keeps it serving). */
  readonly #loaded = new Set<string>();
  /** Resolves after each rebuild (tests and benchmarks wait on it). */
  onReload: ((outcomes: LoadOutcome[]) => void) | null = null;
  port = 0;

  constructor(opts: DevServerOptions) {
    this.#o = opts;
  }

  get stack(): ResolvedStack {
    return this.#stack;
  }

  /** Loads, builds and starts serving. Throws on an invalid stack file. */
  async start(): Promise<number> {
    this.#stack = loadStack(this.#o.dir);
    for (const w of this.#stack.warnings) this.#o.print(`warning: ${w}`);
    // Watch before the first build reads anything: an edit saved while dev starts (or the moment
    // it prints its address) is seen, and rebuilt once serving (#serving below).
    const watching = this.#o.watch !== false;
    if (watching) this.#watch();
    const buildStarted = Date.now();
    await this.#build(this.#stack);
    if (watching) {
      this.#watch();
      // A source file outside the stack's directory saved between the build reading it and its
      // directory being watched has no event: its time tells.
      if ([...this.#inputs].some((f) => mtimeMs(f) >= buildStarted)) this.#early = true;
    }
    const dataDir = this.#o.dataDir ?? join(this.#stack.dir, ".stratus");
    const backends = chooseBackends({ dataDir });
    this.#workers =
      this.#o.workers > 1
        ? new ClusterWorkers({
            count: this.#o.workers,
            backends,
            json: this.#o.json,
            logger: this.#o.logger,
            ...(this.#o.logLevel ? { logLevel: this.#o.logLevel } : {}),
            ...(this.#o.maxWorkerRssMb ? { maxWorkerRssMb: this.#o.maxWorkerRssMb } : {}),
          })
        : new InProcessWorkers({ backends, logger: this.#o.logger });
    const outcomes = await this.#workers.load(this.#stack, [...this.#bundles.values()], secretsFromEnv());
    // The operator's view of the events: the in-process bus, or a passive one on the workers' store.
    if (this.#workers instanceof InProcessWorkers) this.#events = this.#workers.host.events;
    else {
      this.#events = passiveEventBus(openEventStore(backends.events), this.#o.logger);
      this.#ownEvents = true;
    }
    await this.#events.configure(this.#stack);
    this.#report(outcomes);
    this.port = await this.#workers.listen(this.#o.port, this.#o.host);
    if (this.#o.controlPort !== undefined) {
      const workers = this.#workers;
      const events = this.#events;
      const controlHost = this.#o.controlHost ?? "127.0.0.1";
      if (!isLoopback(controlHost) && !this.#o.controlToken) {
        throw new StratusError(
          "STRATUS_E_CLI_USAGE",
          `--control-host ${controlHost} would expose the dev control API (publish, replay) beyond this machine without a token; pass --control-token <secret> too, or leave the control API on 127.0.0.1`,
        );
      }
      this.#control = new ControlServer(
        { stackName: () => this.#stack.name, metrics: () => workers.metrics(), events },
        this.#o.controlToken ? { token: this.#o.controlToken } : {},
      );
      this.#controlHost = controlHost;
      this.controlPort = await this.#control.listen(this.#o.controlPort, controlHost);
    }
    this.#serving = true;
    this.#printRoutes();
    if (this.#early) void this.rebuild();
    return this.port;
  }

  /** Builds every service; failures keep the previous bundle. Returns true if any bundle changed. */
  async #build(stack: ResolvedStack): Promise<boolean> {
    let changed = false;
    const results = await buildStack(stack);
    const names = new Set(stack.services.map((s) => s.name));
    for (const name of [...this.#bundles.keys()]) {
      if (!names.has(name)) {
        this.#bundles.delete(name);
        changed = true;
      }
    }
    for (const r of results) {
      if (r.ok) {
        for (const i of r.bundle.inputs) this.#inputs.add(i);
        if (this.#bundles.get(r.service)?.hash !== r.bundle.hash) changed = true;
        this.#bundles.set(r.service, { service: r.service, code: r.bundle.code, hash: r.bundle.hash, map: r.bundle.map });
      } else {
        const keeping = this.#bundles.has(r.service) ? "; still serving the previous version" : "; it will answer 503 until this is fixed";
        this.#o.print(`build failed for service "${r.service}" (${r.error.code})${keeping}:\n${indent(r.error.message)}`);
      }
    }
    return changed;
  }

  #report(outcomes: LoadOutcome[]): void {
    for (const o of outcomes) {
      if (o.status === "deployed" || o.status === "unchanged") this.#loaded.add(o.service);
      else if (o.status === "removed") this.#loaded.delete(o.service);
      if (o.status !== "failed") continue;
      const entry = this.#stack.services.find((s) => s.name === o.service)?.entryAsWritten ?? "its entry file";
      const keeping = this.#loaded.has(o.service) ? "its previous version keeps serving" : "its requests get 503 until it loads";
      this.#o.print(
        `service "${o.service}" failed to load (${o.error.code}); ${keeping}:\n${indent(o.error.message)}\n${indent(`fix: ${loadFix(o.error.code, entry)}`)}`,
      );
    }
  }

  #printRoutes(): void {
    const s = this.#stack;
    const rows = s.services.flatMap((svc) => svc.routes.map((r) => [r.method, r.path, svc.name] as const));
    const w0 = Math.max(6, ...rows.map((r) => r[0].length));
    const w1 = Math.max(4, ...rows.map((r) => r[1].length));
    const lines = [
      `stratus dev: stack "${s.name}" on http://${this.#o.host}:${this.port} (${this.#o.workers} worker${this.#o.workers === 1 ? "" : "s"}, state in ${shortPath(join(this.#o.dataDir ?? join(s.dir, ".stratus"), "state"))})`,
      ...rows.map(([m, p, svc]) => `  ${m.padEnd(w0)} ${p.padEnd(w1)}  -> ${svc}`),
      this.controlPort !== null
        ? `control API on http://${hostForUrl(this.#controlHost)}:${this.controlPort} (stratus status, /metrics)${isLoopback(this.#controlHost) ? "; loopback only, see --control-host" : "; needs the --control-token"}`
        : "",
      this.#o.watch !== false ? "watching for changes; Ctrl-C stops" : "",
    ];
    this.#o.print(lines.filter(Boolean).join("\n"));
  }

  /**
   * Watches the directory of the stack file and of every source file in a bundle (outside
   * node_modules). Directories, not files: editors that save by renaming a new file into place
   * would leave a file watcher on the old inode.
   */
  #watch(): void {
    if (this.#stopped) return;
    const dirs = new Set([this.#stack.dir, ...[...this.#inputs].filter((f) => !f.includes("/node_modules/")).map((f) => dirname(f))]);
    for (const dir of dirs) {
      if (this.#watchers.has(dir)) continue;
      try {
        const w = watch(dir, (_event, file) => {
          if (file && !this.#relevant(join(dir, String(file)))) return;
          if (!this.#serving) {
            this.#early = true;
            return;
          }
          if (this.#timer) clearTimeout(this.#timer);
          this.#timer = setTimeout(() => void this.rebuild(), 20);
        });
        this.#watchers.set(dir, w);
      } catch {
        // The directory went away; a later build re-adds what exists.
      }
    }
  }

  #relevant(path: string): boolean {
    return path === this.#stack.file || this.#inputs.has(path) || /\.(ts|tsx|mts|js|mjs|jsx|json)$/.test(path);
  }

  /** Rebuilds and swaps what changed; coalesces calls made while a rebuild runs. */
  rebuild(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (this.#building) {
      this.#dirty = true;
      return this.#building;
    }
    this.#building = (async () => {
      do {
        this.#dirty = false;
        await this.#rebuildOnce();
      } while (this.#dirty);
      this.#building = null;
    })();
    return this.#building;
  }

  async #rebuildOnce(): Promise<void> {
    const start = performance.now();
    let stack: ResolvedStack;
    try {
      stack = loadStack(this.#o.dir);
    } catch (err) {
      this.#o.print(`stratus.yaml has errors; still serving the previous configuration:\n${indent(err instanceof Error ? err.message : String(err))}`);
      return;
    }
    const stackChanged = !isDeepStrictEqual(stack, this.#stack);
    const codeChanged = await this.#build(stack);
    if (!stackChanged && !codeChanged) return;
    const routesChanged = !isDeepStrictEqual(
      stack.services.map((s) => s.routes),
      this.#stack.services.map((s) => s.routes),
    );
    this.#stack = stack;
    const outcomes = await this.#workers.load(stack, [...this.#bundles.values()], secretsFromEnv());
    if (this.#ownEvents) await this.#events.configure(stack);
    this.#report(outcomes);
    const deployed = outcomes.filter((o) => o.status === "deployed" || o.status === "removed");
    if (deployed.length > 0) {
      const what = deployed.map((o) => (o.status === "deployed" ? `${o.service}@${o.version}` : `${o.service} (removed)`)).join(", ");
      this.#o.print(`reloaded ${what} in ${Math.round(performance.now() - start)} ms`);
    }
    if (routesChanged) this.#printRoutes();
    if (this.#o.watch !== false) this.#watch();
    this.onReload?.(outcomes);
  }

  /** Process ids of the worker processes (this process when serving in-process). */
  workerPids(): number[] {
    return this.#workers instanceof ClusterWorkers ? this.#workers.pids() : [process.pid];
  }

  /** Stops watching and serving; in-flight requests finish. */
  async stop(): Promise<void> {
    // Stopped first: a rebuild finishing meanwhile must not watch again (that kept the process alive).
    this.#stopped = true;
    for (const w of this.#watchers.values()) w.close();
    this.#watchers.clear();
    if (this.#timer) clearTimeout(this.#timer);
    await this.#building;
    await this.#control?.close();
    await this.#workers?.close();
    if (this.#ownEvents) {
      await this.#events.close();
      await this.#events.store.close();
    }
  }
}

/** What to do about a service that failed to load, by its error code. */
export function loadFix(code: string, entry: string): string {
  switch (code) {
    case "STRATUS_E_NO_HANDLER":
      return `give ${entry} the default export its routes, subscriptions and schedules need (as said above), and save`;
    case "STRATUS_E_HANDLER_THREW":
      return `the top level of ${entry} (code outside its handlers) threw: fix the line above, or move that work into a handler, and save`;
    case "STRATUS_E_MEMORY_LIMIT":
      return `the top level of ${entry} ran out of memory: allocate less there, or raise limits.memory in stratus.yaml`;
    case "STRATUS_E_CPU_LIMIT":
      return `the top level of ${entry} ran past limits.cpu: do less work there (e.g. lazily, in a handler), or raise limits.cpu in stratus.yaml`;
    default:
      return `fix ${entry} and save; stratus dev reloads it`;
  }
}

/** A file's modification time, or 0 when it is gone. */
function mtimeMs(file: string): number {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function shortPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel === "" ? "." : rel.startsWith("..") ? abs : rel;
}

function indent(text: string): string {
  return text
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function hostForUrl(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
