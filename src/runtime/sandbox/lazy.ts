// Sandbox code: modules the prelude loads only when first needed. Their source is kept out of the
// startup snapshot (each 100 KB there made every new isolate measurably slower to create) and
// handed over by the host on demand (prelude-build.ts, LAZY_MODULES).

let loader: ((name: string) => string | null) | null = null;
// Taken now: the function may replace the global eval before a lazy module is first needed.
const evaluate = globalThis.eval;
const loaded = new Map<string, unknown>();

/** Connects the host's lazy module source (set once the host bridge is there). */
export function setLazyLoader(load: (name: string) => string | null): void {
  loader = load;
}

/** The exports of lazy module `name`, evaluated on first use. */
export function lazyModule<T>(name: string): T {
  if (loaded.has(name)) return loaded.get(name) as T;
  const source = loader?.(name);
  if (typeof source !== "string") throw new TypeError(`Stratus: the ${name} module cannot be loaded before the isolate is initialised`);
  // Indirect eval: the module runs in the global scope, like the rest of the prelude.
  const exports = evaluate(source) as T;
  loaded.set(name, exports);
  return exports;
}
