// Sandbox code: DOMException as WebIDL defines it (name, message and legacy code as prototype
// getters over internal slots, the legacy code constants, Error.prototype in its chain).

const CODES: Record<string, number> = {
  IndexSizeError: 1,
  HierarchyRequestError: 3,
  WrongDocumentError: 4,
  InvalidCharacterError: 5,
  NoModificationAllowedError: 7,
  NotFoundError: 8,
  NotSupportedError: 9,
  InUseAttributeError: 10,
  InvalidStateError: 11,
  SyntaxError: 12,
  InvalidModificationError: 13,
  NamespaceError: 14,
  InvalidAccessError: 15,
  TypeMismatchError: 17,
  SecurityError: 18,
  NetworkError: 19,
  AbortError: 20,
  URLMismatchError: 21,
  QuotaExceededError: 22,
  TimeoutError: 23,
  InvalidNodeTypeError: 24,
  DataCloneError: 25,
};

const CONSTANTS: Record<string, number> = {
  INDEX_SIZE_ERR: 1,
  DOMSTRING_SIZE_ERR: 2,
  HIERARCHY_REQUEST_ERR: 3,
  WRONG_DOCUMENT_ERR: 4,
  INVALID_CHARACTER_ERR: 5,
  NO_DATA_ALLOWED_ERR: 6,
  NO_MODIFICATION_ALLOWED_ERR: 7,
  NOT_FOUND_ERR: 8,
  NOT_SUPPORTED_ERR: 9,
  INUSE_ATTRIBUTE_ERR: 10,
  INVALID_STATE_ERR: 11,
  SYNTAX_ERR: 12,
  INVALID_MODIFICATION_ERR: 13,
  NAMESPACE_ERR: 14,
  INVALID_ACCESS_ERR: 15,
  VALIDATION_ERR: 16,
  TYPE_MISMATCH_ERR: 17,
  SECURITY_ERR: 18,
  NETWORK_ERR: 19,
  ABORT_ERR: 20,
  URL_MISMATCH_ERR: 21,
  QUOTA_EXCEEDED_ERR: 22,
  TIMEOUT_ERR: 23,
  INVALID_NODE_TYPE_ERR: 24,
  DATA_CLONE_ERR: 25,
};

interface Slots {
  name: string;
  message: string;
}
// Internal slots live outside the object, so `name`/`message` are not own properties and the
// getters can tell a real DOMException from anything else.
const slots = new WeakMap<object, Slots>();

function own(self: unknown, what: string): Slots {
  const s = typeof self === "object" && self !== null ? slots.get(self) : undefined;
  if (!s) throw new TypeError(`DOMException.prototype.${what} called on an object that is not a DOMException`);
  return s;
}

/** A WebIDL DOMException. */
export class DOMException extends Error {
  constructor(message: unknown = undefined, name: unknown = undefined) {
    super();
    // Error's constructor made an own `message` only when given one; ours lives in the slot.
    delete (this as { message?: unknown }).message;
    slots.set(this, { message: message === undefined ? "" : String(message), name: name === undefined ? "Error" : String(name) });
    // Again, now that name and message are known, so the stack's first line shows them.
    (Error as unknown as { captureStackTrace?(o: object, c: unknown): void }).captureStackTrace?.(this, new.target);
  }

  /** The exception's name, e.g. "AbortError". */
  override get name(): string {
    return own(this, "name").name;
  }

  /** The exception's message. */
  override get message(): string {
    return own(this, "message").message;
  }

  /** The legacy numeric code of the name, or 0. */
  get code(): number {
    return CODES[own(this, "code").name] ?? 0;
  }
}

/** Whether `value` is a real DOMException (not just something with its prototype). */
export function isDOMException(value: unknown): value is DOMException {
  return typeof value === "object" && value !== null && slots.has(value);
}

for (const p of ["name", "message", "code"]) {
  const d = Object.getOwnPropertyDescriptor(DOMException.prototype, p)!;
  Object.defineProperty(DOMException.prototype, p, { ...d, enumerable: true });
}
for (const [k, v] of Object.entries(CONSTANTS)) {
  const d = { value: v, writable: false, enumerable: true, configurable: false };
  Object.defineProperty(DOMException, k, d);
  Object.defineProperty(DOMException.prototype, k, d);
}
Object.defineProperty(DOMException.prototype, Symbol.toStringTag, { value: "DOMException", configurable: true });
