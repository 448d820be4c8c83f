/** The resolved, frozen stack configuration every other subsystem reads. */

/** An HTTP method a route can name. */
export type HttpMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS";

/** One route of a service. */
export interface ResolvedRoute {
  /** The method, or ANY for every method. */
  readonly method: HttpMethod | "ANY";
  /** The path pattern: literals, `:param` segments, an optional trailing `*`. */
  readonly path: string;
  /** The route as written in the stack file. */
  readonly raw: string;
}

/** A capability granted to a service. */
export type BindingConfig =
  | { readonly kind: "kv" }
  | { readonly kind: "sql" }
  | { readonly kind: "service"; readonly service: string }
  | { readonly kind: "egress"; readonly hosts: readonly string[] }
  | { readonly kind: "publish"; readonly topics: readonly string[] }
  | { readonly kind: "secret"; readonly secret: string };

/** How one service consumes one topic (durations in milliseconds). */
export interface ResolvedSubscription {
  /** "service:topic": the name the CLI and the dead-letter store use. */
  readonly name: string;
  readonly service: string;
  readonly topic: string;
  readonly maxAttempts: number;
  readonly backoff: { readonly initialMs: number; readonly maxMs: number };
  readonly deadLetter: boolean;
  readonly ordering: "none" | "key";
  readonly maxConcurrency: number;
  readonly startAt: "latest" | "earliest";
}

/** A cron schedule of one service. */
export interface ResolvedSchedule {
  /** "service#index", stable while the schedule keeps its place in the list. */
  readonly id: string;
  readonly service: string;
  readonly cron: string;
  readonly timezone: string | null;
}

/** A topic of the stack. */
export interface ResolvedTopic {
  readonly name: string;
  /** Open to CloudEvents POSTed from outside. */
  readonly ingest: boolean;
  readonly retentionMs: number;
}

/** One service, with every default filled in and every duration in milliseconds. */
export interface ResolvedService {
  readonly name: string;
  /** Absolute path of the entry module. */
  readonly entry: string;
  /** The entry as written in the stack file (for messages). */
  readonly entryAsWritten: string;
  readonly runtime: "isolate";
  readonly routes: readonly ResolvedRoute[];
  readonly bindings: Readonly<Record<string, BindingConfig>>;
  readonly vars: Readonly<Record<string, string | number | boolean>>;
  readonly scale: {
    readonly min: number;
    readonly max: number;
    readonly concurrency: number;
    readonly idleTimeoutMs: number;
    readonly queue: number;
  };
  /** storageBytes: what all of the service's KV and SQL bindings may hold together. */
  readonly limits: { readonly memoryMb: number; readonly timeoutMs: number; readonly cpuMs: number; readonly storageBytes: number };
  readonly subscriptions: readonly ResolvedSubscription[];
  readonly schedules: readonly ResolvedSchedule[];
  /** Attempts of an async invocation before it fails into the dead-letter store. */
  readonly asyncMaxAttempts: number;
}

/** A whole stack. */
export interface ResolvedStack {
  readonly name: string;
  /** The project directory (where stratus.yaml is). */
  readonly dir: string;
  /** The stack file's absolute path. */
  readonly file: string;
  readonly gateway: { readonly maxBodySize: number };
  readonly services: readonly ResolvedService[];
  readonly topics: readonly ResolvedTopic[];
  /** Things accepted but not acted on in this release (printed by the CLI). */
  readonly warnings: readonly string[];
}
