/** A stack running in one process (state + runtime + gateway). */
export { StackHost, secretsFromEnv, type StackHostOptions, type BundleRef, type LoadOutcome } from "./stack-host.ts";
