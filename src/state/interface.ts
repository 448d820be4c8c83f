/**
 * The per-service state a function reaches through its bindings. Every backend implements these;
 * the embedded one is SQLite (sqlite/). Guarantees every backend keeps:
 * - a namespace or database is private to one (service, binding) pair: nothing is shared;
 * - a resolved put/delete/run is durable: it survives a restart of the process;
 * - KV reads after a write in the same process see that write;
 * - writes beyond the service's storage quota fail with STRATUS_E_STORAGE_QUOTA and lose nothing;
 * - SQL runs under the SQL policy (only the service's own database) and limits.timeout.
 * Every call returns a Promise, so a backend may run it in another process or over the network.
 * The conformance suites every backend runs are in conformance.ts (kvStoreSuite, sqlDatabaseSuite).
 */

/** Limits every KV backend enforces (the same as Cloudflare KV where it has one). */
export const KV_LIMITS = {
  /** Largest key, in UTF-8 bytes. */
  maxKeyBytes: 512,
  /** Largest value, in bytes (25 MiB). */
  maxValueBytes: 25 * 1024 * 1024,
  /** Largest metadata, as JSON, in bytes. */
  maxMetadataBytes: 1024,
  /** Most keys one list() returns. */
  maxListLimit: 1000,
} as const;

/** One key of a list() page. */
export interface KvListKey {
  name: string;
  /** Expiry as seconds since the epoch, when the key has one. */
  expiration?: number;
  metadata?: unknown;
}

/** A page of keys. */
export interface KvListResult {
  keys: KvListKey[];
  list_complete: boolean;
  /** Pass to the next list() call; absent on the last page. */
  cursor?: string;
}

/** Options of put(). */
export interface KvPutOptions {
  /** Seconds from now until the key expires. */
  expirationTtl?: number | null;
  /** Seconds since the epoch at which the key expires. */
  expiration?: number | null;
  /** JSON text of the key's metadata. */
  metadata?: string | null;
}

/** A KV namespace. */
export interface KvStore {
  get(key: string): Promise<{ value: Uint8Array; metadata: string | null } | null>;
  put(key: string, value: Uint8Array, options?: KvPutOptions): Promise<void>;
  delete(key: string): Promise<void>;
  list(options: { prefix?: string; cursor?: string | null; limit?: number }): Promise<KvListResult>;
  /** Closes the namespace (the provider closes every namespace it opened). */
  close(): Promise<void>;
}

/** A value SQL statements take and return. */
export type SqlValue = null | number | bigint | string | Uint8Array;

/** D1-shaped result of all() / run(). */
export interface SqlResult {
  success: true;
  results: Record<string, SqlValue>[];
  meta: { duration: number; changes: number; last_row_id: number; rows_read: number; rows_written: number };
}

/** How a statement's result is wanted. */
export type SqlMode = "all" | "first" | "run" | "raw";

/** A SQL database. */
export interface SqlDatabase {
  /** Runs one statement. "raw" returns { columns, rows }. */
  query(sql: string, params: readonly SqlValue[], mode: SqlMode): Promise<SqlResult | { columns: string[]; rows: SqlValue[][] }>;
  /** Runs statements in one transaction; all or nothing. */
  batch(statements: readonly (readonly [string, readonly SqlValue[]])[]): Promise<SqlResult[]>;
  /** Runs one or more statements separated by semicolons, without parameters. */
  exec(sql: string): Promise<{ count: number; duration: number }>;
  /** Closes the database (the provider closes every database it opened). */
  close(): Promise<void>;
}

/** The limits of a service that its state enforces (from services.<name>.limits). */
export interface StateLimits {
  /** Longest a single SQL call may run before it is stopped (limits.timeout). */
  readonly timeoutMs: number;
  /** Bytes all of the service's KV and SQL bindings may hold together (limits.storage). */
  readonly storageBytes: number;
  /** Heap of the service's SQL engine, in MB (limits.memory). */
  readonly memoryMb?: number;
}

/**
 * Opens state for services. One per process; namespaces are opened lazily and cached. kv() and
 * sql() return at once, without I/O (they sit on the path of every binding call): a networked
 * backend connects on the handle's first call, and reports a failure to connect there.
 */
export interface StateProvider {
  /** The KV namespace of (service, binding); `limits` (when given) replace the service's limits. */
  kv(service: string, binding: string, limits?: StateLimits): KvStore;
  /** The SQL database of (service, binding); `limits` (when given) replace the service's limits. */
  sql(service: string, binding: string, limits?: StateLimits): SqlDatabase;
  /** Closes every namespace, stops any process the backend started and releases its connections. */
  close(): Promise<void>;
}
