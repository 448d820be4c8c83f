// Sandbox code: the Streams standard (web-streams-polyfill), materialised on first use. Most
// handlers never touch a stream (a string or bytes body needs none), and the polyfill's objects in
// the startup snapshot cost every isolate about 0.35 MB twice over (its default context and the
// instance's). Its source is handed over by the host when first needed (prelude-build.ts,
// LAZY_MODULES "streams").
import type * as Polyfill from "web-streams-polyfill";
import { lazyModule } from "./lazy.ts";

type Streams = typeof Polyfill;
let loaded: Streams | null = null;

/** The Streams standard's classes (loaded on the first call). */
export function streams(): Streams {
  return (loaded ??= lazyModule<Streams>("streams"));
}

/** True for a ReadableStream of this isolate; never loads the polyfill (without it there is none). */
export function isReadableStream(v: unknown): v is Polyfill.ReadableStream {
  return loaded !== null && v instanceof loaded.ReadableStream;
}

/** The globals of the Streams standard, in the order they are installed. */
const NAMES = [
  "ReadableStream",
  "WritableStream",
  "TransformStream",
  "ByteLengthQueuingStrategy",
  "CountQueuingStrategy",
  "ReadableStreamDefaultReader",
  "ReadableStreamBYOBReader",
  "ReadableStreamDefaultController",
  "ReadableByteStreamController",
  "ReadableStreamBYOBRequest",
  "WritableStreamDefaultWriter",
  "WritableStreamDefaultController",
  "TransformStreamDefaultController",
] as const;

/**
 * Installs the Streams globals as accessors that load the polyfill on first read and then become
 * the plain data properties every other Web API global is (writable, configurable, not
 * enumerable). Writing one first replaces it like any global.
 */
export function installStreamGlobals(): void {
  const g = globalThis as unknown as Record<string, unknown>;
  const define = (name: string, value: unknown): void => void Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
  const materialise = (): void => {
    const s = streams() as unknown as Record<string, unknown>;
    for (const name of NAMES) {
      // A global the function already replaced or deleted stays as the function left it.
      const d = Object.getOwnPropertyDescriptor(g, name);
      if (d && d.get === accessors.get(name)) define(name, s[name]);
    }
  };
  const accessors = new Map<string, () => unknown>();
  for (const name of NAMES) {
    const get = (): unknown => {
      materialise();
      return g[name];
    };
    accessors.set(name, get);
    Object.defineProperty(g, name, {
      get,
      set: (v: unknown) => define(name, v),
      configurable: true,
      enumerable: false,
    });
  }
}
