/** Per-service state: KV namespaces and SQL databases behind one interface. */
export type { StateProvider, KvStore, SqlDatabase, SqlValue, SqlMode, SqlResult, KvListResult, KvPutOptions } from "./interface.ts";
export { KV_LIMITS } from "./interface.ts";
export { SqliteStateProvider, type SqliteStateOptions } from "./sqlite/provider.ts";
