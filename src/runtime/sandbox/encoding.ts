// Sandbox code: TextEncoder, TextDecoder and their streams from @exodus/bytes, an implementation
// of the WHATWG Encoding standard tested against the Web Platform Tests upstream (every label,
// fatal, ignoreBOM, streaming, encodeInto). Installed on the global scope as soon as this module
// loads, because other prelude modules make their encoder and decoder at load time.
//
// The legacy multi-byte encodings (Shift_JIS, EUC-JP, ISO-2022-JP, GBK, gb18030, Big5, EUC-KR) are
// kept out of the startup snapshot: their tables made every new isolate about 15 ms slower to
// create. A TextDecoder for one of them loads the full implementation from the host on first use.
import {
  TextDecoder as LiteTextDecoder,
  TextDecoderStream as LiteTextDecoderStream,
  TextEncoder,
  TextEncoderStream,
  labelToName,
} from "@exodus/bytes/encoding-lite.js";
import { lazyModule } from "./lazy.ts";

const MULTI_BYTE = new Set(["gbk", "gb18030", "big5", "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr"]);

interface Decoder {
  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string;
}
type DecoderClass = new (label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) => Decoder;

/** The Encoding standard's TextDecoder. */
const TextDecoder = class TextDecoder extends LiteTextDecoder {
  /** The full implementation's decoder, for a legacy multi-byte encoding. */
  #legacy: Decoder | null = null;

  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) {
    super(label, options);
    if (MULTI_BYTE.has(this.encoding)) {
      const Full = lazyModule<{ TextDecoder: DecoderClass }>("encoding").TextDecoder;
      this.#legacy = new Full(label, options);
    }
  }

  decode(input?: ArrayBuffer | ArrayBufferView, options?: { stream?: boolean }): string {
    const legacy = this.#legacy;
    return legacy ? legacy.decode(input, options) : super.decode(input, options);
  }
};

/** The Encoding standard's TextDecoderStream (UTF-8, UTF-16 and the single-byte encodings). */
const TextDecoderStream = class TextDecoderStream extends LiteTextDecoderStream {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) {
    const name = label === undefined ? null : labelToName(String(label));
    if (name !== null && MULTI_BYTE.has(name.toLowerCase())) {
      throw new RangeError(
        `TextDecoderStream: the legacy multi-byte encoding ${JSON.stringify(String(label))} is not available for streams inside a function; use a TextDecoder with { stream: true }`,
      );
    }
    super(label, options);
  }
};

const g = globalThis as unknown as Record<string, unknown>;
for (const [name, value] of Object.entries({ TextEncoder, TextDecoder })) {
  Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
}

export { TextDecoder, TextDecoderStream, TextEncoder, TextEncoderStream };
