/** Bundling of service entries into isolate scripts. */
export { bundleService, BUNDLE_GLOBAL, type ServiceBundle } from "./bundle.ts";
export { buildStack, builtBundles, type BuildOutcome } from "./build-stack.ts";
