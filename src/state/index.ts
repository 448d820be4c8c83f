/** Per-service state: KV namespaces and SQL databases behind one interface. */
export type { StateProvider, KvStore, SqlDatabase, SqlValue, SqlMode, SqlResult, KvListResult, KvPutOptions, StateLimits } from "./interface.ts";
export { KV_LIMITS } from "./interface.ts";
export { SqliteStateProvider, type SqliteStateOptions } from "./sqlite/provider.ts";
export { PostgresStateProvider, type PostgresStateOptions } from "./postgres/provider.ts";
export { DEFAULT_STORAGE_BYTES } from "./sqlite/quota.ts";
export { privateDir, privateDbFile } from "./sqlite/files.ts";
