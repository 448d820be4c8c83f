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
declare module "core-js-pure/web/url" {
  const URLImpl: typeof URL;
  export default URLImpl;
}
declare module "core-js-pure/web/url-search-params" {
  const URLSearchParamsImpl: typeof URLSearchParams;
  export default URLSearchParamsImpl;
}
declare module "@ungap/structured-clone" {
  export default function structuredClone<T>(value: T, options?: { json?: boolean; lossy?: boolean }): T;
}
declare module "fast-text-encoding";
declare module "abort-controller/dist/abort-controller.mjs" {
  export const AbortController: new () => { readonly signal: unknown; abort(reason?: unknown): void };
  export const AbortSignal: unknown;
}
declare module "event-target-shim" {
  export class EventTarget {
    addEventListener(type: string, listener: (e: Event) => void): void;
    removeEventListener(type: string, listener: (e: Event) => void): void;
    dispatchEvent(e: Event): boolean;
  }
  export class Event {
    constructor(type: string, init?: { bubbles?: boolean; cancelable?: boolean });
    readonly type: string;
  }
}
