/** Stack-file loading, validation and the JSON Schema export. */
export { loadStack, parseStack, parseDuration, parseSize, formatPath, STACK_FILE, type ParseOptions } from "./load.ts";
export { stackJsonSchema } from "./schema.ts";
export type {
  ResolvedStack,
  ResolvedService,
  ResolvedRoute,
  BindingConfig,
  HttpMethod,
  ResolvedSubscription,
  ResolvedSchedule,
  ResolvedTopic,
} from "./types.ts";
