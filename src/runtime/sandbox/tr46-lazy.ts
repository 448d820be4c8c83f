// Sandbox code: stands in for the `tr46` package (UTS #46 IDNA processing) inside whatwg-url, so
// its Unicode mapping table (over 2 MB of heap once loaded) stays out of every isolate's startup
// snapshot. A host that is all ASCII and has no "xn--" label comes out of UTS #46, with the options
// the URL standard uses (no STD3 rules, no hyphen checks, no DNS length check), simply lowercased;
// every other host goes to the real tr46, loaded on first use.

/** The options whatwg-url passes to tr46.toASCII. */
type Options = Record<string, boolean>;
interface Tr46 {
  toASCII(domain: string, options?: Options): string | null;
  toUnicode(domain: string, options?: Options): { domain: string; error: boolean };
}

let real: Tr46 | null = null;
function tr46(): Tr46 {
  // The real package under an alias (see prelude-build.ts); esbuild bundles this require as a
  // module that is evaluated only when first called.
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- a require is what makes it lazy
  return (real ??= require("stratus-tr46-real/index.js") as Tr46);
}

const ASCII = /^[\x00-\x7f]*$/;
const ACE_LABEL = /(?:^|\.)xn--/;

/** UTS #46 ToASCII. */
export function toASCII(domain: string, options?: Options): string | null {
  if (ASCII.test(domain) && !options?.["useSTD3ASCIIRules"] && !options?.["checkHyphens"] && !options?.["verifyDNSLength"]) {
    const lower = domain.toLowerCase();
    if (!ACE_LABEL.test(lower)) return lower;
  }
  return tr46().toASCII(domain, options);
}

/** UTS #46 ToUnicode. */
export function toUnicode(domain: string, options?: Options): { domain: string; error: boolean } {
  return tr46().toUnicode(domain, options);
}
