/** Isolate sandboxes, instance pools and the bindings bridge. */
export {
  Runtime,
  safePath,
  redact,
  type RuntimeOptions,
  type Invocation,
  type DeployedVersion,
  type ServiceStatus,
  type InvocationEvent,
  type LimitEvent,
  type Publisher,
  type CanarySticky,
} from "./runtime.ts";
export { errorResult, readBody, createBlankIsolate, type InvokeRequest, type InvokeResult, type TaskOutcome } from "./instance.ts";
export { hostAllowed } from "./host-io.ts";
export { UNLIMITED, type Capacity } from "./capacity.ts";
export { sumReports, type CpuPeers, type CpuReport } from "./fairness.ts";
