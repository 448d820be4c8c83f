/** A node's registry: versions, plans, tokens with roles, sealed secrets and the audit log. */
export type { Registry, Role, TokenInfo, VersionRecord, AppliedStack, AuditEntry, SealedSecret } from "./interface.ts";
export { SqliteRegistry } from "./sqlite.ts";
export { PostgresRegistry, type PostgresRegistryOptions } from "./postgres.ts";
export { createToken, authorize, hashToken, ROLES } from "./tokens.ts";
export { MasterKeys, type MasterKey } from "./secrets.ts";
export { planStack, formatPlan, serviceConfig, digestOf, versionOf, type Plan, type PlanChange } from "./plan.ts";
