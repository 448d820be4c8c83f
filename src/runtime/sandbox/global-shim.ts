// Sandbox code. Runs first in the prelude: some polyfills look for `global` to install onto, and
// webidl-conversions reads SharedArrayBuffer.prototype at load time, which V8 leaves out of a
// snapshot-building context. Both are removed again at the end of the prelude.
const g = globalThis as unknown as Record<string, unknown>;
g["global"] = globalThis;
if (typeof g["SharedArrayBuffer"] === "undefined") {
  class SharedArrayBufferPlaceholder {
    get byteLength(): number {
      throw new TypeError("not a SharedArrayBuffer");
    }
    get growable(): boolean {
      throw new TypeError("not a SharedArrayBuffer");
    }
  }
  g["SharedArrayBuffer"] = SharedArrayBufferPlaceholder;
  g["__stratus_sab_placeholder"] = true;
}
