// WebIDL: DOMException.

test(() => {
  const e = new DOMException();
  assert_equals(e.name, "Error");
  assert_equals(e.message, "");
  assert_equals(e.code, 0);
}, "defaults");

test(() => {
  const e = new DOMException("msg", "NotFoundError");
  assert_equals(e.name, "NotFoundError");
  assert_equals(e.message, "msg");
  assert_equals(e.code, 8);
}, "message and name");

const codes = [
  ["IndexSizeError", 1, "INDEX_SIZE_ERR"],
  ["HierarchyRequestError", 3, "HIERARCHY_REQUEST_ERR"],
  ["WrongDocumentError", 4, "WRONG_DOCUMENT_ERR"],
  ["InvalidCharacterError", 5, "INVALID_CHARACTER_ERR"],
  ["NoModificationAllowedError", 7, "NO_MODIFICATION_ALLOWED_ERR"],
  ["NotFoundError", 8, "NOT_FOUND_ERR"],
  ["NotSupportedError", 9, "NOT_SUPPORTED_ERR"],
  ["InvalidStateError", 11, "INVALID_STATE_ERR"],
  ["SyntaxError", 12, "SYNTAX_ERR"],
  ["InvalidModificationError", 13, "INVALID_MODIFICATION_ERR"],
  ["NamespaceError", 14, "NAMESPACE_ERR"],
  ["InvalidAccessError", 15, "INVALID_ACCESS_ERR"],
  ["TypeMismatchError", 17, "TYPE_MISMATCH_ERR"],
  ["SecurityError", 18, "SECURITY_ERR"],
  ["NetworkError", 19, "NETWORK_ERR"],
  ["AbortError", 20, "ABORT_ERR"],
  ["URLMismatchError", 21, "URL_MISMATCH_ERR"],
  ["QuotaExceededError", 22, "QUOTA_EXCEEDED_ERR"],
  ["TimeoutError", 23, "TIMEOUT_ERR"],
  ["InvalidNodeTypeError", 24, "INVALID_NODE_TYPE_ERR"],
  ["DataCloneError", 25, "DATA_CLONE_ERR"],
];
for (const [name, code, constant] of codes) {
  test(() => {
    assert_equals(new DOMException("", name).code, code);
    assert_equals(DOMException[constant], code);
    assert_equals(DOMException.prototype[constant], code);
  }, `${name} has code ${code} (${constant})`);
}

test(() => {
  assert_equals(DOMException.VALIDATION_ERR, 16);
  assert_equals(DOMException.DOMSTRING_SIZE_ERR, 2);
  assert_equals(DOMException.NO_DATA_ALLOWED_ERR, 6);
}, "legacy constants without names");

for (const name of ["EncodingError", "NotReadableError", "UnknownError", "ConstraintError", "DataError", "OperationError", "NotAllowedError", "Whatever"]) {
  test(() => assert_equals(new DOMException("", name).code, 0), `${name} has code 0`);
}

test(() => {
  const d = Object.getOwnPropertyDescriptor(DOMException, "INDEX_SIZE_ERR");
  assert_false(d.writable);
  assert_true(d.enumerable);
  assert_false(d.configurable);
}, "constants are read-only and enumerable");

test(() => {
  const e = new DOMException("m", "AbortError");
  assert_true(e instanceof Error);
  assert_equals(Object.getPrototypeOf(DOMException.prototype), Error.prototype);
}, "inherits from Error");

test(() => {
  const e = new DOMException("m", "AbortError");
  assert_false(Object.prototype.hasOwnProperty.call(e, "name"));
  assert_false(Object.prototype.hasOwnProperty.call(e, "message"));
  assert_false(Object.prototype.hasOwnProperty.call(e, "code"));
  for (const p of ["name", "message", "code"]) {
    const d = Object.getOwnPropertyDescriptor(DOMException.prototype, p);
    assert_equals(typeof d.get, "function", p);
    assert_equals(d.set, undefined, p);
    assert_true(d.enumerable, p);
    assert_throws_js(TypeError, () => d.get.call({}), p);
  }
}, "name, message and code are prototype getters");

test(() => {
  assert_equals(String(new DOMException("m", "AbortError")), "AbortError: m");
  assert_equals(String(new DOMException("m")), "Error: m");
  assert_equals(Object.prototype.hasOwnProperty.call(DOMException.prototype, "toString"), false);
}, "toString comes from Error.prototype");

test(() => {
  assert_equals(new DOMException(undefined).message, "");
  assert_equals(new DOMException(null).message, "null");
  assert_equals(new DOMException("m", undefined).name, "Error");
  assert_equals(new DOMException("m", null).name, "null");
  assert_equals(new DOMException({ toString: () => "x" }).message, "x");
}, "arguments are converted to strings");

test(() => {
  assert_throws_js(TypeError, () => DOMException("m"));
}, "needs new");

test(() => {
  assert_class_string(new DOMException(), "DOMException");
  assert_class_string(DOMException.prototype, "DOMException");
}, "class strings");

test(() => {
  assert_equals(DOMException.length, 0);
  assert_equals(DOMException.name, "DOMException");
  const d = Object.getOwnPropertyDescriptor(globalThis, "DOMException");
  assert_true(d.writable);
  assert_false(d.enumerable);
  assert_true(d.configurable);
}, "the interface object");

test(() => {
  class MyError extends DOMException {
    constructor() {
      super("sub", "SyntaxError");
    }
  }
  const e = new MyError();
  assert_true(e instanceof DOMException);
  assert_equals(e.name, "SyntaxError");
  assert_equals(e.code, 12);
}, "can be subclassed");

test(() => {
  const e = new DOMException("m", "AbortError");
  assert_equals(typeof e.stack, "string");
}, "has a stack");

test(() => {
  const e = new DOMException("m", "AbortError", 5);
  assert_equals(e.name, "AbortError");
}, "extra arguments are ignored");

test(() => {
  try {
    throw new DOMException("thrown", "NotSupportedError");
  } catch (e) {
    assert_equals(e.name, "NotSupportedError");
  }
  assert_throws_dom("NotSupportedError", () => {
    throw new DOMException("x", "NotSupportedError");
  });
}, "can be thrown and caught");
