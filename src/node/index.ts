/** `stratus start`: a production node with a registry, an authenticated control API, plan/apply, versions and rollback. */
export { NodeServer, recoverAdmin, type NodeServerOptions, type Upload, type ApplyResult, type CanaryOptions } from "./node-server.ts";
export { NodeApi, openapi } from "./node-api.ts";
