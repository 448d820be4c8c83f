// Sandbox code: TextEncoder and TextDecoder from @exodus/bytes, a complete implementation of the
// WHATWG Encoding standard (every encoding and label, fatal, ignoreBOM, streaming, encodeInto)
// tested against the Web Platform Tests upstream. Installed on the global scope as soon as this
// module loads, because other prelude modules make their encoder and decoder at load time.
import { TextDecoder, TextDecoderStream, TextEncoder, TextEncoderStream } from "@exodus/bytes/encoding.js";

const g = globalThis as unknown as Record<string, unknown>;
for (const [name, value] of Object.entries({ TextEncoder, TextDecoder })) {
  Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
}

export { TextDecoder, TextDecoderStream, TextEncoder, TextEncoderStream };
