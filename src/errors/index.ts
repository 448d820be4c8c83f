/**
 * Stratus errors: one base class with stable string codes. User errors (bad input the user can fix)
 * are kept apart from system errors (a fault in Stratus or the machine). Match on `code`, never on
 * `instanceof`: errors that cross the sandbox boundary keep their code and message but not their class.
 */

/** Every error code Stratus raises, with the HTTP status it maps to and whether the user caused it. */
export const ERROR_CODES = {
  STRATUS_E_CONFIG_PARSE: { status: 400, user: true, summary: "The stack file is not valid YAML." },
  STRATUS_E_CONFIG_INVALID: { status: 400, user: true, summary: "The stack file does not match the schema." },
  STRATUS_E_CONFIG_NOT_FOUND: { status: 400, user: true, summary: "No stratus.yaml in the given directory." },
  STRATUS_E_ROUTE_CONFLICT: { status: 400, user: true, summary: "Two routes match the same method and path." },
  STRATUS_E_BUILD: { status: 500, user: true, summary: "A service entry failed to bundle (syntax error, missing import)." },
  STRATUS_E_ENTRY_NOT_FOUND: { status: 500, user: true, summary: "A service entry file does not exist." },
  STRATUS_E_NODE_BUILTIN: { status: 500, user: true, summary: "An isolate service imports a Node built-in module." },
  STRATUS_E_NO_HANDLER: { status: 500, user: true, summary: "The module has no default export with a fetch() handler." },
  STRATUS_E_HANDLER_THREW: { status: 500, user: true, summary: "The function threw or rejected." },
  STRATUS_E_BAD_RESPONSE: {
    status: 500,
    user: true,
    summary:
      'The function returned something other than a Response, or a reply HTTP cannot carry or the host cannot read (docs/runtime.md, "The host boundary").',
  },
  STRATUS_E_TIMEOUT: { status: 504, user: true, summary: "The invocation exceeded limits.timeout (wall time)." },
  STRATUS_E_CPU_LIMIT: { status: 503, user: true, summary: "The invocation exceeded limits.cpu (CPU time); the instance was replaced." },
  STRATUS_E_MEMORY_LIMIT: { status: 503, user: true, summary: "The instance exceeded limits.memory; it was replaced." },
  STRATUS_E_NOT_FOUND: { status: 404, user: true, summary: "No route matches the request path." },
  STRATUS_E_METHOD_NOT_ALLOWED: { status: 405, user: true, summary: "The path is routed, but not for this method." },
  STRATUS_E_BODY_TOO_LARGE: { status: 413, user: true, summary: "The request body is over gateway.maxBodySize." },
  STRATUS_E_OVERLOADED: { status: 429, user: false, summary: "The service's wait queue is full; retry after the Retry-After seconds." },
  STRATUS_E_KV_LIMIT: { status: 400, user: true, summary: "A KV key or value is over the documented size limit." },
  STRATUS_E_KV_ARGUMENT: { status: 400, user: true, summary: "A KV call got an argument of the wrong type." },
  STRATUS_E_KV_BACKEND: { status: 503, user: false, summary: "The KV backend's server (PostgreSQL) could not be reached or failed the call; retry." },
  STRATUS_E_SQL: { status: 400, user: true, summary: "An SQL statement failed (syntax, constraint, bad bind)." },
  STRATUS_E_EGRESS_DENIED: { status: 403, user: true, summary: "fetch() to a host the stack file does not grant." },
  STRATUS_E_BINDING_DENIED: { status: 403, user: true, summary: "A binding call the stack file does not grant." },
  STRATUS_E_SERVICE_UNAVAILABLE: { status: 503, user: false, summary: "The service has no loaded version (it failed to build)." },
  STRATUS_E_PORT_IN_USE: { status: 500, user: true, summary: "The gateway port is taken by another process." },
  STRATUS_E_CLI_USAGE: { status: 400, user: true, summary: "A CLI command got bad arguments." },
  STRATUS_E_EVENT_INVALID: { status: 400, user: true, summary: "An event is not a valid CloudEvent, or its data cannot be serialised as JSON." },
  STRATUS_E_EVENT_TOO_LARGE: { status: 413, user: true, summary: "An event is over the size limit (256 KiB serialised)." },
  STRATUS_E_TOPIC_UNKNOWN: { status: 404, user: true, summary: "A topic that no stack file declares or grants." },
  STRATUS_E_PUBLISH_DENIED: {
    status: 403,
    user: true,
    summary:
      "A publish to a topic the service was not granted, past the event-chain depth (a publish loop), or an HTTP ingest to a topic not open to it or with a source Stratus reserves.",
  },
  STRATUS_E_SUBSCRIPTION_UNKNOWN: { status: 404, user: true, summary: "A subscription name that does not exist (service:topic)." },
  STRATUS_E_INVOCATION_UNKNOWN: { status: 404, user: true, summary: "An async invocation id that does not exist (or has expired)." },
  STRATUS_E_EVENT_STORE: { status: 500, user: false, summary: "The event store failed to write or read (disk full, file damaged)." },
  STRATUS_E_UNAUTHORIZED: { status: 401, user: true, summary: "The control API got no token, or a malformed, unknown, expired or revoked one." },
  STRATUS_E_FORBIDDEN: { status: 403, user: true, summary: "The token's role does not allow this (admin > deployer > reader)." },
  STRATUS_E_REGISTRY: { status: 500, user: false, summary: "The node's registry (versions, tokens, secrets) failed to open, read or write." },
  STRATUS_E_CLUSTER: { status: 503, user: false, summary: "Cluster coordination (leases, membership) failed: its file or its server could not be reached." },
  STRATUS_E_SECRETS: { status: 400, user: true, summary: "A secret is missing, does not decrypt, or the master key is not valid." },
  STRATUS_E_APPLY_CONFLICT: { status: 409, user: true, summary: "Another apply or deploy is running on the node; retry when it finishes." },
  STRATUS_E_DIGEST_MISMATCH: { status: 400, user: true, summary: "An uploaded bundle does not match the digest sent with it." },
  STRATUS_E_VERSION_UNKNOWN: { status: 404, user: true, summary: "A service version (or service) that the node does not have." },
  STRATUS_E_DEPLOY_FAILED: { status: 422, user: true, summary: "An apply or deploy was refused (a service failed to load); nothing changed." },
  STRATUS_E_FETCH_TOO_LARGE: {
    status: 502,
    user: true,
    summary:
      "A body or header list that fetch() or a service binding sent or received is over its limit (a quarter of limits.memory, at most 32 MiB; 256 headers).",
  },
  STRATUS_E_TIMER_LIMIT: { status: 500, user: true, summary: "setTimeout/setInterval past the 10,000 timers one instance may hold pending." },
  STRATUS_E_SQL_DENIED: {
    status: 403,
    user: true,
    summary: "An SQL statement reaches outside the service's own database (ATTACH, VACUUM INTO, a pragma not allowed).",
  },
  STRATUS_E_SQL_TIMEOUT: { status: 504, user: true, summary: "An SQL statement ran longer than limits.timeout and was stopped." },
  STRATUS_E_STORAGE_QUOTA: { status: 507, user: true, summary: "A KV or SQL write would take the service over limits.storage; nothing stored was lost." },
  STRATUS_E_BAD_REQUEST: {
    status: 400,
    user: true,
    summary: "A malformed HTTP request: a Host that is not host[:port], a request target that is not a path, bad percent-encoding.",
  },
  STRATUS_E_STACK_TOO_LARGE: {
    status: 413,
    user: true,
    summary: "A stack file (or an apply/deploy body) over a documented limit: size, services, routes, bindings, topics.",
  },
  STRATUS_E_CODE_DAMAGED: {
    status: 500,
    user: false,
    summary: "A stored bundle no longer matches its digest; that version is refused. Apply the service's bundle again to repair it.",
  },
  STRATUS_E_INTERNAL: { status: 500, user: false, summary: "A fault inside Stratus." },
} as const satisfies Record<string, { status: number; user: boolean; summary: string }>;

/** A stable error code. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The one error class Stratus throws; `code` is stable, `message` says what to fix. */
export class StratusError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  /** True when the user can fix the cause (bad input); false for system faults. */
  readonly user: boolean;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "StratusError";
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.user = ERROR_CODES[code].user;
  }

  /** The JSON body the gateway sends for this error. */
  toJSON(): { error: { code: ErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}

/** True when `value` carries a Stratus error code (works across realms and processes). */
export function hasErrorCode(value: unknown): value is { code: ErrorCode; message: string } {
  return (
    typeof value === "object" &&
    value !== null &&
    typeof (value as { code?: unknown }).code === "string" &&
    // Own keys only: "constructor" or "toString" is in every object, and is no code.
    Object.hasOwn(ERROR_CODES, (value as { code: string }).code)
  );
}

/**
 * The one error boundary: turns anything thrown into a StratusError. A StratusError passes as it
 * is; an object carrying a known code (from another realm or process) keeps its code; anything
 * else becomes STRATUS_E_INTERNAL. The code is never built from the thrown value's own strings, so
 * a function or a client cannot make up a code or a status.
 */
export function toStratusError(err: unknown): StratusError {
  if (err instanceof StratusError) return err;
  if (hasErrorCode(err)) return new StratusError(err.code, typeof err.message === "string" ? err.message : String(err.message), { cause: err });
  const message = err instanceof Error ? err.message : typeof err === "string" ? err : safeString(err);
  return new StratusError("STRATUS_E_INTERNAL", `internal error: ${message}`, { cause: err });
}

/** String(value), even for values whose toString throws or is not a function. */
function safeString(value: unknown): string {
  try {
    return String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** The JSON body and status of an error response for anything thrown (see toStratusError). */
export function errorReply(err: unknown): { status: number; body: string } {
  const e = toStratusError(err);
  return { status: e.status, body: JSON.stringify(e.toJSON()) };
}

/**
 * The raw HTTP/1.1 answer to a request Node's parser refused (a server's "clientError": malformed
 * request line, bad header, a body without a length): a coded JSON 400 instead of Node's bare one.
 */
export function clientErrorResponse(err: { code?: string; message?: string }): string {
  const e = new StratusError(
    "STRATUS_E_BAD_REQUEST",
    `the request is not valid HTTP/1.1 (${typeof err.code === "string" ? err.code : "parse error"}); check the request line, the headers and the body's length`,
  );
  const body = JSON.stringify(e.toJSON());
  return `HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
