// Sandbox code: part of the prelude (imported by prelude.ts), never loaded by Node.
/**
 * Bounds the memory V8 allocates outside the heap by limits.memory. isolated-vm's memory limit
 * counts the heap and ordinary ArrayBuffers, but not WebAssembly memory, resizable ArrayBuffers
 * or growable SharedArrayBuffers: those reserve address space up front and commit it as they
 * grow, past any allocator check. So every way to get one goes through here, and the maximum
 * each may grow to is reserved against one budget (limits.memory, set by the host at wiring):
 * - `new WebAssembly.Memory()` gets a `maximum` no larger than what is left of the budget;
 * - a module's own memories (declared in its binary, grown by `memory.grow` inside it) get their
 *   maximum rewritten in the binary before V8 compiles it, so growth past it fails in Wasm
 *   (memory.grow returns -1) instead of taking host memory; instantiating reserves those maxima;
 * - `new ArrayBuffer(n, { maxByteLength })` and `new SharedArrayBuffer(n, { maxByteLength })`
 *   reserve their maxByteLength, and so does transferring a resizable buffer.
 * Reservations are released when the object is garbage-collected. Past the budget, construction
 * or instantiation throws a RangeError with code STRATUS_E_MEMORY_LIMIT.
 */

const PAGE = 65536;
/** Bytes the instance's Wasm memories may reserve together; set by the host before user code runs. */
let budget = Infinity;
let reserved = 0;
type Registry = { register(target: object, held: number): void };
let registry: Registry | null = null;

function limitError(what: string, bytes: number): Error {
  const mb = (n: number): string => `${Math.round(n / (1024 * 1024))} MB`;
  return Object.assign(
    new RangeError(
      `${what} needs ${mb(bytes)} outside the JavaScript heap, but this instance has ${mb(Math.max(0, budget - reserved))} of its ${mb(budget)} left (WebAssembly memory and resizable buffers count against limits.memory); ask for a smaller maximum or raise limits.memory`,
    ),
    { code: "STRATUS_E_MEMORY_LIMIT" },
  );
}

function reserve(bytes: number, what: string): void {
  if (reserved + bytes > budget) throw limitError(what, bytes);
  reserved += bytes;
}

function track(target: object, bytes: number): void {
  if (bytes === 0) return;
  // Made lazily: a FinalizationRegistry cannot be part of the startup snapshot.
  registry ??= new (globalThis as unknown as { FinalizationRegistry: new (cb: (n: number) => void) => Registry }).FinalizationRegistry((n) => {
    reserved -= n;
  });
  registry.register(target, bytes);
}

function readLeb(b: Uint8Array, at: number): [number, number] {
  let value = 0;
  let mul = 1;
  let i = at;
  for (;;) {
    const byte = b[i++];
    if (byte === undefined || i - at > 10) throw new TypeError("WebAssembly: the module's binary is malformed");
    value += (byte & 0x7f) * mul;
    mul *= 128;
    if ((byte & 0x80) === 0) return [value, i];
  }
}

function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    out.push(byte);
  } while (n > 0);
  return out;
}

/**
 * The module binary with each of its own memories' maximum set to at most the budget, and the
 * bytes those maxima add up to. Memories it imports are JS-made (bounded by the constructor).
 */
function capModule(input: unknown): { bytes: Uint8Array; reserve: number } {
  let src: Uint8Array;
  if (input instanceof ArrayBuffer) src = new Uint8Array(input.slice(0));
  else if (ArrayBuffer.isView(input)) src = new Uint8Array(input.buffer.slice(input.byteOffset, input.byteOffset + input.byteLength));
  else throw new TypeError("WebAssembly: the module source must be an ArrayBuffer or a typed array");
  // Not a module V8 would read: let it say why.
  if (src.length < 8 || src[0] !== 0 || src[1] !== 0x61 || src[2] !== 0x73 || src[3] !== 0x6d) return { bytes: src, reserve: 0 };
  const maxPages = Math.floor(budget / PAGE);
  const out: number[][] = [Array.from(src.subarray(0, 8))];
  let total = 0;
  let at = 8;
  while (at < src.length) {
    const id = src[at]!;
    const [size, start] = readLeb(src, at + 1);
    const end = start + size;
    if (end > src.length) throw new TypeError("WebAssembly: the module's binary is malformed");
    if (id !== 5) {
      out.push(Array.from(src.subarray(at, end)));
      at = end;
      continue;
    }
    let [count, p] = readLeb(src, start);
    const body: number[] = leb(count);
    while (count-- > 0) {
      const flags = src[p++]!;
      // 1: has a maximum, 2: shared, 4: 64-bit. Anything else (custom page sizes...) is refused
      // rather than passed through unbounded.
      if (flags > 7) throw new TypeError(`WebAssembly: memory flags 0x${flags.toString(16)} are not supported in Stratus`);
      let min: number;
      let max = Infinity;
      [min, p] = readLeb(src, p);
      if (flags & 1) [max, p] = readLeb(src, p);
      if (min > maxPages) throw limitError("this WebAssembly module's memory", min * PAGE);
      const capped = Math.min(max, maxPages);
      total += capped * PAGE;
      body.push(flags | 1, ...leb(min), ...leb(capped));
    }
    if (p !== end) throw new TypeError("WebAssembly: the module's memory section is malformed");
    out.push([5, ...leb(body.length), ...body]);
    at = end;
  }
  const bytes = new Uint8Array(out.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of out) {
    bytes.set(c, o);
    o += c.length;
  }
  return { bytes, reserve: total };
}

type Ctor = (new (...a: unknown[]) => object) & { prototype: object };

/**
 * Replaces `globalThis[name]` (ArrayBuffer, SharedArrayBuffer) with a constructor that reserves
 * `maxByteLength` for resizable and growable buffers; fixed-length ones pass straight through.
 */
function wrapBuffer(name: "ArrayBuffer" | "SharedArrayBuffer"): void {
  const G = globalThis as unknown as Record<string, unknown>;
  const Orig = G[name] as Ctor | undefined;
  if (typeof Orig !== "function") return;
  function Buffer(this: unknown, ...args: unknown[]): object {
    if (new.target === undefined) throw new TypeError(`Constructor ${name} requires 'new'`);
    const target = new.target === Buffer ? Orig! : new.target;
    const options = args[1];
    const max = typeof options === "object" && options !== null ? (options as { maxByteLength?: unknown }).maxByteLength : undefined;
    if (max === undefined) return Reflect.construct(Orig!, args, target) as object;
    // Read once and passed on as a plain number: a getter cannot show one value here and another to V8.
    const bytes = Number(max);
    if (!(bytes >= 0)) return Reflect.construct(Orig!, [args[0], { maxByteLength: max }], target) as object;
    if (reserved + bytes > budget) throw limitError(`new ${name}(…, { maxByteLength: ${bytes} })`, bytes);
    const buf = Reflect.construct(Orig!, [args[0], { maxByteLength: bytes }], target) as object;
    reserved += bytes;
    track(buf, bytes);
    return buf;
  }
  Buffer.prototype = Orig.prototype;
  Object.setPrototypeOf(Buffer, Object.getPrototypeOf(Orig) as object);
  for (const k of Reflect.ownKeys(Orig)) {
    if (k === "prototype" || k === "length" || k === "name") continue;
    Object.defineProperty(Buffer, k, Object.getOwnPropertyDescriptor(Orig, k)!);
  }
  Object.defineProperty(Buffer, "name", { value: name });
  Object.defineProperty(Orig.prototype, "constructor", { value: Buffer, writable: true, configurable: true, enumerable: false });
  Object.defineProperty(G, name, { value: Buffer, writable: true, configurable: true, enumerable: false });
  if (name === "ArrayBuffer") {
    const proto = Orig.prototype as Record<string, unknown>;
    // transfer() keeps a resizable buffer resizable, with the same reservation; the old one may
    // be collected (releasing its reservation), so the new one reserves again.
    for (const m of ["transfer"]) {
      const orig = proto[m] as ((this: ArrayBuffer, n?: number) => ArrayBuffer) | undefined;
      if (typeof orig !== "function") continue;
      Object.defineProperty(proto, m, {
        value: function (this: ArrayBuffer & { resizable?: boolean; maxByteLength?: number }, ...a: [number?]): ArrayBuffer {
          if (!this.resizable) return orig.apply(this, a);
          const bytes = this.maxByteLength ?? 0;
          if (reserved + bytes > budget) throw limitError("ArrayBuffer.prototype.transfer() of a resizable buffer", bytes);
          const out = orig.apply(this, a);
          reserved += bytes;
          track(out, bytes);
          return out;
        },
        writable: true,
        configurable: true,
        enumerable: false,
      });
    }
  }
}

/** Wraps the WebAssembly namespace and the buffer constructors (at wiring time: a snapshot has no WebAssembly to wrap). */
function install(): void {
  wrapBuffer("ArrayBuffer");
  wrapBuffer("SharedArrayBuffer");
  const W = (globalThis as unknown as { WebAssembly?: Record<string, unknown> }).WebAssembly;
  if (!W) return;
  const OrigMemory = W["Memory"] as Ctor;
  const OrigModule = W["Module"] as Ctor;
  const OrigInstance = W["Instance"] as Ctor;
  /** Bytes each compiled module's own memories reserve when it is instantiated. */
  const moduleReserve = new WeakMap<object, number>();

  const instantiateModule = (module: object, imports: unknown, make: () => object): object => {
    const bytes = moduleReserve.get(module) ?? 0;
    reserve(bytes, "instantiating this WebAssembly module");
    let inst: object;
    try {
      inst = make();
    } catch (e) {
      reserved -= bytes;
      throw e;
    }
    track(inst, bytes);
    void imports;
    return inst;
  };

  // Plain functions with the originals' prototypes, so instanceof and V8-made objects still agree.
  function Memory(this: unknown, desc: unknown): object {
    if (new.target === undefined) throw new TypeError("WebAssembly.Memory must be called with new");
    const d = { ...(desc as Record<string, unknown>) };
    const initial = Number(d["initial"] ?? d["minimum"] ?? 0);
    const left = Math.floor(Math.max(0, budget - reserved) / PAGE);
    if (initial > left) throw limitError("new WebAssembly.Memory()", initial * PAGE);
    const maximum = Math.min(d["maximum"] === undefined ? Infinity : Number(d["maximum"]), left, 65536);
    d["maximum"] = Math.max(maximum, initial);
    const mem = Reflect.construct(OrigMemory, [d], new.target === Memory ? OrigMemory : new.target) as object;
    const bytes = (d["maximum"] as number) * PAGE;
    reserved += bytes;
    track(mem, bytes);
    return mem;
  }
  Memory.prototype = OrigMemory.prototype;

  function Module(this: unknown, source: unknown): object {
    if (new.target === undefined) throw new TypeError("WebAssembly.Module must be called with new");
    const { bytes, reserve: r } = capModule(source);
    const m = Reflect.construct(OrigModule, [bytes], new.target === Module ? OrigModule : new.target) as object;
    moduleReserve.set(m, r);
    return m;
  }
  Module.prototype = OrigModule.prototype;
  for (const k of ["exports", "imports", "customSections"])
    (Module as unknown as Record<string, unknown>)[k] = (OrigModule as unknown as Record<string, unknown>)[k];

  function Instance(this: unknown, module: unknown, imports?: unknown): object {
    if (new.target === undefined) throw new TypeError("WebAssembly.Instance must be called with new");
    const target = new.target === Instance ? OrigInstance : new.target;
    return instantiateModule(module as object, imports, () => Reflect.construct(OrigInstance, [module, imports], target) as object);
  }
  Instance.prototype = OrigInstance.prototype;

  // V8's asynchronous compilation finishes on a task isolated-vm does not always run (an
  // instantiate(bytes) never settled): compile synchronously, on this isolate's own thread,
  // where limits.cpu sees the work, and settle the promise with the result.
  const compile = async (source: unknown): Promise<object> => Reflect.construct(Module, [source]) as object;
  const instantiate = async (source: unknown, imports?: unknown): Promise<object> => {
    if (source instanceof OrigModule) return Reflect.construct(Instance, [source, imports]) as object;
    const module = Reflect.construct(Module, [source]) as object;
    return { module, instance: Reflect.construct(Instance, [module, imports]) as object };
  };

  const define = (k: string, v: unknown): void => {
    Object.defineProperty(W, k, { value: v, writable: true, configurable: true, enumerable: false });
  };
  for (const [k, v] of Object.entries({ Memory, Module, Instance }) as [string, { prototype: object }][]) {
    Object.defineProperty(v.prototype, "constructor", { value: v, writable: true, configurable: true, enumerable: false });
    define(k, v);
  }
  define("compile", compile);
  define("instantiate", instantiate);
  // Streaming compilation would take bytes past capModule; there is no Response source here anyway.
  delete W["compileStreaming"];
  delete W["instantiateStreaming"];
}

// The host sets the budget once, before the function's code runs, and the setter goes away.
Object.defineProperty(globalThis, "__stratus_wasm_limit", {
  value: (bytes: number): void => {
    budget = bytes;
    install();
    delete (globalThis as unknown as Record<string, unknown>)["__stratus_wasm_limit"];
  },
  writable: true,
  configurable: true,
  enumerable: false,
});
