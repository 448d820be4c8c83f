/**
 * Types for Stratus functions. This file is sandbox code: it compiles without @types/node,
 * against the web-standard types (Request, Response, ReadableStream...) only.
 *
 * ```ts
 * import type { Context, KVNamespace, SqlDatabase, CloudEvent, Publisher } from "stratus";
 * export default {
 *   async fetch(request: Request, env: { KV: KVNamespace }, ctx: Context) { return new Response("ok"); },
 * };
 * ```
 */

/** The third argument of a handler. */
export interface Context {
  /** Keeps the instance alive until `promise` settles, after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
  /** Accepted for Workers compatibility; does nothing. */
  passThroughOnException(): void;
  /** Path parameters of the matched route, e.g. { id: "42" } for "GET /orders/:id". */
  readonly params: Readonly<Record<string, string | undefined>>;
}

/** One key of a KV list. */
export interface KVNamespaceListKey<Metadata = unknown> {
  name: string;
  /** Seconds since the epoch. */
  expiration?: number;
  metadata?: Metadata;
}

/** A page of KV keys. */
export interface KVNamespaceListResult<Metadata = unknown> {
  keys: KVNamespaceListKey<Metadata>[];
  list_complete: boolean;
  cursor?: string;
}

/** Options of KV put. */
export interface KVNamespacePutOptions {
  /** Seconds until the key expires. */
  expirationTtl?: number;
  /** Seconds since the epoch at which the key expires. */
  expiration?: number;
  /** Up to 1024 bytes of JSON kept beside the value. */
  metadata?: unknown;
}

/** A KV namespace binding (`{ kv: {} }`): the Cloudflare KV shape. Keys up to 512 bytes, values up to 25 MiB. */
export interface KVNamespace {
  get(key: string, type?: "text" | { type: "text" }): Promise<string | null>;
  get<T = unknown>(key: string, type: "json" | { type: "json" }): Promise<T | null>;
  get(key: string, type: "arrayBuffer" | { type: "arrayBuffer" }): Promise<ArrayBuffer | null>;
  get(key: string, type: "stream" | { type: "stream" }): Promise<ReadableStream<Uint8Array> | null>;
  getWithMetadata<Metadata = unknown>(key: string, type?: "text"): Promise<{ value: string | null; metadata: Metadata | null }>;
  put(key: string, value: string | ArrayBuffer | ArrayBufferView | ReadableStream, options?: KVNamespacePutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  list<Metadata = unknown>(options?: { prefix?: string; cursor?: string; limit?: number }): Promise<KVNamespaceListResult<Metadata>>;
}

/** A value SQL takes or returns. */
export type SqlValue = null | number | bigint | string | boolean | ArrayBuffer | ArrayBufferView;

/** Metadata of a statement's result. */
export interface SqlMeta {
  duration: number;
  changes: number;
  last_row_id: number;
  rows_read: number;
  rows_written: number;
}

/** The result of all() and run(): the D1 shape. */
export interface SqlResult<T = Record<string, unknown>> {
  success: true;
  results: T[];
  meta: SqlMeta;
}

/** A prepared statement. */
export interface SqlPreparedStatement {
  bind(...values: SqlValue[]): SqlPreparedStatement;
  first<T = Record<string, unknown>>(): Promise<T | null>;
  first<T = unknown>(column: string): Promise<T | null>;
  all<T = Record<string, unknown>>(): Promise<SqlResult<T>>;
  run<T = Record<string, unknown>>(): Promise<SqlResult<T>>;
  raw<T = unknown[]>(options?: { columnNames?: boolean }): Promise<T[]>;
}

/** A SQL database binding (`{ sql: {} }`): SQLite, the Cloudflare D1 shape. */
export interface SqlDatabase {
  prepare(query: string): SqlPreparedStatement;
  /** Runs the statements in one transaction: all or nothing. */
  batch<T = Record<string, unknown>>(statements: SqlPreparedStatement[]): Promise<SqlResult<T>[]>;
  exec(query: string): Promise<{ count: number; duration: number }>;
}

/** The D1 name for SqlDatabase, so Workers code type-checks unchanged. */
export type D1Database = SqlDatabase;

/** A service binding (`{ service: name }`) or an egress binding (`{ egress: [hosts] }`). */
export interface Fetcher {
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
}

/** A CloudEvents 1.0 event as an event() handler receives it. `type` is the topic. */
export interface CloudEvent<Data = unknown> {
  specversion: "1.0";
  /** Unique per topic; a publish with an id already stored is not stored again. */
  id: string;
  /** Who published it: "/services/<name>", "/cli", or an outside producer's source. */
  source: string;
  /** The topic, e.g. "order.created". */
  type: string;
  /** RFC 3339 time of acceptance. */
  time: string;
  subject?: string;
  datacontenttype?: string;
  data?: Data;
  /** Binary data from an outside producer (binary content mode, not JSON or text). */
  data_base64?: string;
  /** The ordering key given at publish. */
  partitionkey?: string;
  [extension: string]: unknown;
}

/** Options of a publish. */
export interface PublishOptions {
  /** Ordering key: a subscription with `ordering: key` handles one event per key at a time, in order. */
  key?: string;
  /** Event id (idempotency key): the same id on the same topic is stored once while the event is retained. */
  id?: string;
  /** CloudEvents subject. */
  subject?: string;
}

/** A publish binding (`{ publish: [topics] }`). Resolves once the event is durable. */
export interface Publisher {
  publish<Data = unknown>(topic: string, data?: Data, options?: PublishOptions): Promise<{ id: string; seq: number; duplicate: boolean }>;
}

/** The first argument of scheduled(). */
export interface ScheduledController {
  readonly type: "scheduled";
  /** The schedule's cron expression. */
  readonly cron: string;
  /** The due time of this run, in milliseconds since the epoch. */
  readonly scheduledTime: number;
  /** Accepted for Workers compatibility: cron runs are never retried. */
  noRetry(): void;
}

/**
 * Throw this from event() when retrying cannot help (a malformed payload): the event goes to the
 * dead-letter store at once. Any error with `permanent: true` does the same.
 */
export class PermanentError extends Error {
  readonly permanent = true;
  constructor(message: string) {
    super(message);
    this.name = "PermanentError";
  }
}

/** The third argument of event() and scheduled(). */
export interface EventContext {
  /** The event is acknowledged once `promise` settles too. */
  waitUntil(promise: Promise<unknown>): void;
  /** Accepted for Workers compatibility; does nothing. */
  passThroughOnException(): void;
}

/** The module a service exports by default: at least one handler. */
export interface ExportedHandler<Env = Record<string, unknown>> {
  /** HTTP routes and service bindings. */
  fetch?(request: Request, env: Env, ctx: Context): Response | Promise<Response>;
  /** Subscribed topics: a throw (or rejection, or limits.timeout) is a failed attempt, retried with backoff. */
  event?(event: CloudEvent, env: Env, ctx: EventContext): void | Promise<void>;
  /** Cron schedules. */
  scheduled?(controller: ScheduledController, env: Env, ctx: EventContext): void | Promise<void>;
}

/** An error raised by a binding; match on `code`. */
export interface StratusBindingError extends Error {
  code: string;
}
