// Sandbox code: TextEncoder, TextDecoder and their streams from @exodus/bytes, an implementation
// of the WHATWG Encoding standard tested against the Web Platform Tests upstream (every label,
// fatal, ignoreBOM, streaming, encodeInto). Installed on the global scope as soon as this module
// loads, because other prelude modules make their encoder and decoder at load time.
//
// The legacy multi-byte encodings (Shift_JIS, EUC-JP, ISO-2022-JP, GBK, gb18030, Big5, EUC-KR) are
// left out: their tables made every new isolate about 15 ms slower to create (measured), for
// encodings a function rarely needs. Asking for one is a RangeError that says so.
import {
  TextDecoder as FullTextDecoder,
  TextDecoderStream as FullTextDecoderStream,
  TextEncoder,
  TextEncoderStream,
  labelToName,
} from "@exodus/bytes/encoding-lite.js";

const MULTI_BYTE = new Set(["gbk", "gb18030", "big5", "euc-jp", "iso-2022-jp", "shift_jis", "euc-kr"]);

function refuseMultiByte(label: unknown): void {
  const name = label === undefined ? null : labelToName(String(label));
  if (name !== null && MULTI_BYTE.has(name.toLowerCase())) {
    throw new RangeError(
      `TextDecoder: the legacy multi-byte encoding ${JSON.stringify(String(label))} (${name}) is not available inside a function; UTF-8, UTF-16 and the single-byte encodings are`,
    );
  }
}

/** The Encoding standard's TextDecoder (without the legacy multi-byte encodings). */
const TextDecoder = class TextDecoder extends FullTextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) {
    refuseMultiByte(label);
    super(label, options);
  }
};

/** The Encoding standard's TextDecoderStream (without the legacy multi-byte encodings). */
const TextDecoderStream = class TextDecoderStream extends FullTextDecoderStream {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean }) {
    refuseMultiByte(label);
    super(label, options);
  }
};

const g = globalThis as unknown as Record<string, unknown>;
for (const [name, value] of Object.entries({ TextEncoder, TextDecoder })) {
  Object.defineProperty(g, name, { value, writable: true, configurable: true, enumerable: false });
}

export { TextDecoder, TextDecoderStream, TextEncoder, TextEncoderStream };
