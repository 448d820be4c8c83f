/** The local development server and the worker processes it supervises. */
export { DevServer, loadFix, type DevServerOptions } from "./dev-server.ts";
export { ClusterWorkers, type ClusterOptions, type CanarySpec } from "./cluster.ts";
export { InProcessWorkers, type Workers } from "./workers.ts";
