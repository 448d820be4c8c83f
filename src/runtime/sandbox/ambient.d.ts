// Sandbox code: the globals the prelude's polyfills provide, typed for the prelude itself (the
// sandbox is compiled without DOM or Node types so nothing Node-only slips in).
declare class TextEncoder {
  encode(input?: string): Uint8Array;
}
declare class TextDecoder {
  constructor(label?: string, options?: { fatal?: boolean; ignoreBOM?: boolean });
  decode(input?: ArrayBufferView | ArrayBuffer): string;
}
declare const crypto: { getRandomValues<T extends ArrayBufferView>(a: T): T };
declare class URLSearchParams {
  constructor(init?: string | Record<string, string> | string[][]);
  get(name: string): string | null;
  toString(): string;
}
declare class URL {
  constructor(url: string, base?: string | URL);
  readonly href: string;
  readonly pathname: string;
  readonly searchParams: URLSearchParams;
  toString(): string;
}
declare module "whatwg-url" {
  export const URL: typeof globalThis.URL;
  export const URLSearchParams: typeof globalThis.URLSearchParams;
}
/** esbuild bundles require() calls in the prelude as lazily evaluated modules. */
declare function require(id: string): unknown;
