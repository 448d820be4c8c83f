/** Cluster coordination: the lease and membership interfaces, their conformance suite's types, and the embedded backend. */
export type { Coordination, Lease, LeaseStore, Membership, NodeRecord } from "./interface.ts";
export { SqliteCoordination } from "./sqlite.ts";
