/**
 * Where a dev/production stack's requests are served: the interface, plus the in-process
 * implementation (one process, used by tests and `--workers 1`).
 */
import type { Backends } from "../backends/index.ts";
import type { ResolvedStack } from "../config/index.ts";
import { StackHost, type BundleRef, type LoadOutcome } from "../stack/index.ts";
import type { Logger } from "../telemetry/index.ts";
import type { Registry } from "prom-client";
import type { CanarySpec } from "./cluster.ts";

/** Serves a stack on a port. */
export interface Workers {
  /** Starts serving; resolves with the bound port. */
  listen(port: number, host: string): Promise<number>;
  /** Applies a stack, its bundles and the secret values it may use everywhere; resolves with what happened (from one worker). */
  load(stack: ResolvedStack, bundles: readonly BundleRef[], secrets?: ReadonlyMap<string, string>): Promise<LoadOutcome[]>;
  /** Starts (or with null ends) a canary of a service in every worker process. */
  canary(service: string, canary: CanarySpec | null): Promise<void>;
  /** Per-service metrics, summed over the worker processes. */
  metrics(): Promise<Registry>;
  /** Recent log records kept by worker processes (none when the process's own logger keeps them). */
  logs(opts: { since?: number; service?: string; limit?: number }): Promise<Record<string, unknown>[]>;
  /** Graceful stop: in-flight requests finish. */
  close(): Promise<void>;
}

/** InProcessWorkers: one StackHost in this process. */
export class InProcessWorkers implements Workers {
  readonly host: StackHost;
  constructor(opts: { backends: Backends; logger: Logger }) {
    this.host = new StackHost({ backends: opts.backends, logger: opts.logger });
  }
  async listen(port: number, host: string): Promise<number> {
    return (await this.host.gateway.listen(port, host)).port;
  }
  load(stack: ResolvedStack, bundles: readonly BundleRef[], secrets?: ReadonlyMap<string, string>): Promise<LoadOutcome[]> {
    return this.host.load(stack, bundles, secrets);
  }
  canary(service: string, canary: CanarySpec | null): Promise<void> {
    return this.host.canary(service, canary);
  }
  metrics(): Promise<Registry> {
    return Promise.resolve(this.host.metrics.registry);
  }
  logs(): Promise<Record<string, unknown>[]> {
    return Promise.resolve([]);
  }
  close(): Promise<void> {
    return this.host.close();
  }
}
