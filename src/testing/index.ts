/**
 * `stratus/testing`: start a stack in-process for your own tests, with in-memory state and a
 * clock you control. Requests go through the real gateway, router, isolates and bindings,
 * without a socket.
 *
 * ```ts
 * import { startStack } from "stratus/testing";
 * const stack = await startStack("."); // the directory with stratus.yaml
 * const res = await stack.fetch("/hello");
 * await stack.close();
 * ```
 */
import { buildStack, builtBundles } from "../build/index.ts";
import { loadStack, type ResolvedStack } from "../config/index.ts";
import { StratusError } from "../errors/index.ts";
import { StackHost } from "../stack/index.ts";
import { silentLogger, type Logger } from "../telemetry/index.ts";

/** A clock tests move by hand. */
export class ManualClock {
  #now: number;
  constructor(start = Date.UTC(2030, 0, 1)) {
    this.#now = start;
  }
  /** Milliseconds since the epoch. */
  now = (): number => this.#now;
  /** Moves time forward. */
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** Options of startStack. */
export interface TestStackOptions {
  /** Keep state in this directory instead of memory. */
  stateDir?: string;
  /** Keep events in this SQLite file instead of memory. */
  eventsFile?: string;
  /** The clock of KV expiry, idle timeouts, event retries and cron (default: real time); move it, then call `host.runtime.sweep()` or `await host.events.drain()`. */
  clock?: ManualClock;
  /** Log lines (default: none). */
  logger?: Logger;
}

/** A stack running in this process. */
export interface TestStack {
  readonly stack: ResolvedStack;
  readonly host: StackHost;
  /** Sends a request through the gateway; a bare path gets http://localhost in front. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  close(): Promise<void>;
}

/** Loads, builds and starts the stack in `dir`. Throws the first build or load error. */
export async function startStack(dir: string, opts: TestStackOptions = {}): Promise<TestStack> {
  const stack = loadStack(dir);
  const builds = await buildStack(stack);
  const failed = builds.find((b) => !b.ok);
  if (failed && !failed.ok) throw new StratusError(failed.error.code as "STRATUS_E_BUILD", failed.error.message);
  const host = new StackHost({
    backends: {
      state: { kind: "sqlite", dir: opts.stateDir ?? null },
      events: { kind: "sqlite", file: opts.eventsFile ?? null },
      registry: null,
    },
    logger: opts.logger ?? silentLogger(),
    spares: 0,
    ...(opts.clock ? { clock: opts.clock.now } : {}),
  });
  const outcomes = await host.load(stack, builtBundles(builds));
  const bad = outcomes.find((o) => o.status === "failed");
  if (bad && bad.status === "failed") {
    await host.close();
    throw new StratusError(bad.error.code as "STRATUS_E_BUILD", bad.error.message);
  }
  return {
    stack,
    host,
    fetch(input, init) {
      const req = input instanceof Request ? input : new Request(typeof input === "string" && input.startsWith("/") ? `http://localhost${input}` : input, init);
      return host.gateway.fetch(req);
    },
    close: () => host.close(),
  };
}
