// Sandbox code: structuredClone() as HTML's StructuredSerializeWithTransfer followed by
// StructuredDeserializeWithTransfer, done as one deep copy inside the isolate: primitives (-0
// included), wrappers, Date, RegExp, ArrayBuffer (resizable too) and views, Map, Set, Error
// (name, message, cause, stack), DOMException, Blob and File; anything else that is not a plain
// object or array (functions, symbols, promises, weak collections, platform objects) fails with a
// DOMException "DataCloneError", as does a bad transfer list.
/* eslint-disable @typescript-eslint/unbound-method -- built-in getters and methods are taken off
   their prototypes on purpose, to be called with .call() as brand checks */
import { DOMException, isDOMException } from "./dom-exception.ts";
import { Blob, File } from "./form.ts";

const ERROR_TYPES: Record<string, ErrorConstructor> = {
  Error,
  EvalError,
  RangeError,
  ReferenceError,
  SyntaxError,
  TypeError,
  URIError,
};

const TypedArrayProto = Object.getPrototypeOf(Uint8Array.prototype) as object;
const typedArrayName = Object.getOwnPropertyDescriptor(TypedArrayProto, Symbol.toStringTag)!.get!;
const typedArrayBuffer = Object.getOwnPropertyDescriptor(TypedArrayProto, "buffer")!.get!;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength")!.get!;
const arrayBufferDetached = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "detached")?.get;
const dataViewBuffer = Object.getOwnPropertyDescriptor(DataView.prototype, "buffer")!.get!;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, "size")!.get!;
const setSize = Object.getOwnPropertyDescriptor(Set.prototype, "size")!.get!;
const regexpSource = Object.getOwnPropertyDescriptor(RegExp.prototype, "source")!.get!;
const REGEXP_FLAGS: [string, string][] = [
  ["hasIndices", "d"],
  ["global", "g"],
  ["ignoreCase", "i"],
  ["multiline", "m"],
  ["dotAll", "s"],
  ["unicode", "u"],
  ["unicodeSets", "v"],
  ["sticky", "y"],
];

/** Interfaces of the isolate that are not serializable (platform objects without [Serializable]). */
const NOT_SERIALIZABLE = [
  "EventTarget",
  "Event",
  "AbortController",
  "Headers",
  "Request",
  "Response",
  "FormData",
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  "TextEncoder",
  "TextDecoder",
  "URLSearchParams",
  "URL",
];

function dataCloneError(what: string): DOMException {
  return new DOMException(`structuredClone: ${what} could not be cloned`, "DataCloneError");
}

/** Calls a built-in brand-checking getter or method; false when `v` does not have the slot. */
function has(fn: (this: unknown, ...a: unknown[]) => unknown, v: unknown, ...args: unknown[]): boolean {
  try {
    fn.call(v, ...args);
    return true;
  } catch {
    return false;
  }
}

function describe(v: unknown): string {
  if (typeof v === "function") return `function ${(v as { name?: string }).name || "(anonymous)"}`;
  if (typeof v === "symbol") return v.toString();
  return Object.prototype.toString.call(v);
}

function isDetached(buf: ArrayBuffer): boolean {
  return arrayBufferDetached ? (arrayBufferDetached.call(buf) as boolean) : false;
}

function copyBuffer(buf: ArrayBuffer): ArrayBuffer {
  if (buf.resizable) {
    const out = new ArrayBuffer(buf.byteLength, { maxByteLength: buf.maxByteLength });
    new Uint8Array(out).set(new Uint8Array(buf));
    return out;
  }
  return buf.slice(0);
}

class Cloner {
  readonly memory = new Map<object, unknown>();

  clone(v: unknown): unknown {
    if (typeof v === "symbol" || typeof v === "function") throw dataCloneError(describe(v));
    if (typeof v !== "object" || v === null) return v;
    const seen = this.memory.get(v);
    if (seen !== undefined || this.memory.has(v)) return seen;
    return this.object(v);
  }

  #keep<T>(from: object, to: T): T {
    this.memory.set(from, to);
    return to;
  }

  object(v: object): unknown {
    // Primitive wrappers, Date, RegExp: checked by their internal slots, never by prototype.
    if (has(Boolean.prototype.valueOf, v)) return this.#keep(v, Object(Boolean.prototype.valueOf.call(v)));
    if (has(Number.prototype.valueOf, v)) return this.#keep(v, Object(Number.prototype.valueOf.call(v)));
    if (has(String.prototype.valueOf, v)) return this.#keep(v, Object(String.prototype.valueOf.call(v)));
    if (has(BigInt.prototype.valueOf, v)) return this.#keep(v, Object(BigInt.prototype.valueOf.call(v)));
    if (has(Date.prototype.getTime, v)) return this.#keep(v, new Date(Date.prototype.getTime.call(v)));
    if (has(regexpSource, v)) {
      let flags = "";
      for (const [getter, f] of REGEXP_FLAGS) {
        const d = Object.getOwnPropertyDescriptor(RegExp.prototype, getter);
        if (d?.get?.call(v)) flags += f;
      }
      return this.#keep(v, new RegExp(regexpSource.call(v) as string, flags));
    }
    if (has(arrayBufferByteLength, v)) {
      const buf = v as ArrayBuffer;
      if (isDetached(buf)) throw dataCloneError("a detached ArrayBuffer");
      return this.#keep(v, copyBuffer(buf));
    }
    if (ArrayBuffer.isView(v)) {
      const name = typedArrayName.call(v) as string | undefined;
      const buffer = (name === undefined ? dataViewBuffer.call(v) : typedArrayBuffer.call(v)) as ArrayBuffer;
      if (isDetached(buffer)) throw dataCloneError("a view of a detached ArrayBuffer");
      const clonedBuffer = this.clone(buffer) as ArrayBuffer;
      if (name === undefined) {
        const dv = v as DataView;
        return this.#keep(v, new DataView(clonedBuffer, dv.byteOffset, dv.byteLength));
      }
      const C = (globalThis as unknown as Record<string, new (b: ArrayBuffer, o: number, l: number) => unknown>)[name]!;
      const ta = v as Uint8Array;
      return this.#keep(v, new C(clonedBuffer, ta.byteOffset, ta.length));
    }
    if (has(mapSize, v)) {
      const out = this.#keep(v, new Map<unknown, unknown>());
      // The entries are copied first: a getter run while cloning cannot change what is cloned.
      for (const [k, x] of [...Map.prototype.entries.call(v as Map<unknown, unknown>)]) out.set(this.clone(k), this.clone(x));
      return out;
    }
    if (has(setSize, v)) {
      const out = this.#keep(v, new Set<unknown>());
      for (const x of [...Set.prototype.values.call(v as Set<unknown>)]) out.add(this.clone(x));
      return out;
    }
    if (isDOMException(v)) {
      return this.#keep(v, new DOMException(v.message, v.name));
    }
    if (Object.prototype.toString.call(v) === "[object Error]") return this.#error(v as Error);
    if (v instanceof File) {
      return this.#keep(v, new File([v], v.name, { type: v.type, lastModified: v.lastModified }));
    }
    if (v instanceof Blob) return this.#keep(v, v.slice(0, v.size, v.type));
    this.#refuse(v);
    if (Array.isArray(v)) {
      const out = this.#keep(v, new Array<unknown>(v.length));
      this.#properties(v, out);
      return out;
    }
    const out = this.#keep(v, {});
    this.#properties(v, out);
    return out;
  }

  #refuse(v: object): void {
    const weak: [(this: unknown, ...a: unknown[]) => unknown, unknown[]][] = [
      [WeakMap.prototype.has as never, [{}]],
      [WeakSet.prototype.has as never, [{}]],
      [WeakRef.prototype.deref as never, []],
      [FinalizationRegistry.prototype.unregister as never, [{}]],
    ];
    for (const [fn, args] of weak) if (has(fn, v, ...args)) throw dataCloneError(describe(v));
    const tag = Object.prototype.toString.call(v);
    if (tag === "[object Promise]" || tag === "[object Generator]" || tag === "[object AsyncGenerator]") {
      throw dataCloneError(tag);
    }
    const g = globalThis as unknown as Record<string, unknown>;
    for (const name of NOT_SERIALIZABLE) {
      const C = g[name];
      if (typeof C === "function" && v instanceof C) throw dataCloneError(`a ${name}`);
    }
  }

  #properties(from: object, to: object): void {
    for (const key of Object.keys(from)) {
      if (!Object.prototype.hasOwnProperty.call(from, key)) continue;
      const value = this.clone((from as Record<string, unknown>)[key]);
      Object.defineProperty(to, key, { value, writable: true, enumerable: true, configurable: true });
    }
  }

  #error(e: Error): Error {
    const rawName = e.name;
    const name = typeof rawName === "string" && rawName in ERROR_TYPES ? rawName : "Error";
    const md = Object.getOwnPropertyDescriptor(e, "message");
    const message = md && "value" in md ? String(md.value) : undefined;
    const out = this.#keep(e, message === undefined ? new ERROR_TYPES[name]!() : new ERROR_TYPES[name]!(message));
    const sd = Object.getOwnPropertyDescriptor(e, "stack");
    const stack: unknown = sd && "value" in sd ? sd.value : e.stack;
    if (typeof stack === "string") Object.defineProperty(out, "stack", { value: stack, writable: true, configurable: true, enumerable: false });
    else delete (out as { stack?: unknown }).stack;
    const cd = Object.getOwnPropertyDescriptor(e, "cause");
    if (cd && "value" in cd) Object.defineProperty(out, "cause", { value: this.clone(cd.value), writable: true, configurable: true, enumerable: false });
    return out;
  }
}

/** HTML structuredClone(value, { transfer }). */
export function structuredClone(value: unknown, options: { transfer?: Iterable<unknown> } | undefined = undefined): unknown {
  if (arguments.length < 1) throw new TypeError("structuredClone: 1 argument required, but only 0 present");
  let transfer: unknown[] = [];
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" && typeof options !== "function") throw new TypeError("structuredClone: options must be an object");
    const t = options.transfer;
    if (t !== undefined) {
      if (t === null || typeof t !== "object" || typeof (t as { [Symbol.iterator]?: unknown })[Symbol.iterator] !== "function") {
        throw new TypeError("structuredClone: options.transfer must be a sequence of objects");
      }
      transfer = [...t];
      for (const x of transfer) {
        if ((typeof x !== "object" && typeof x !== "function") || x === null) throw new TypeError("structuredClone: options.transfer must hold only objects");
      }
    }
  }
  const cloner = new Cloner();
  const buffers: ArrayBuffer[] = [];
  for (const x of transfer) {
    if (!has(arrayBufferByteLength, x)) throw dataCloneError(`${describe(x)} in the transfer list, which is not transferable`);
    const buf = x as ArrayBuffer;
    if (buffers.includes(buf)) throw dataCloneError("an ArrayBuffer listed twice in the transfer list");
    if (isDetached(buf)) throw dataCloneError("a detached ArrayBuffer in the transfer list");
    buffers.push(buf);
    cloner.memory.set(buf, copyBuffer(buf));
  }
  const out = cloner.clone(value);
  // Only a clone that succeeded detaches what it transferred.
  for (const buf of buffers) buf.transfer();
  return out;
}
