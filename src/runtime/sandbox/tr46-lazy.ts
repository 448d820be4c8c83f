// Sandbox code: stands in for the `tr46` package (UTS #46 IDNA processing) inside whatwg-url, so
// its Unicode tables stay out of the startup snapshot: each 100 KB of source there made every new
// isolate measurably slower to create, and almost every host is plain ASCII. A host that is all
// ASCII and has no "xn--" label comes out of UTS #46, with the options the URL standard uses (no
// STD3 rules, no hyphen checks, no DNS length check), simply lowercased; every other host goes to
// the real tr46, whose source the host hands over on first use (prelude-build.ts, LAZY_MODULES).

import { lazyModule } from "./lazy.ts";

/** The options whatwg-url passes to tr46.toASCII. */
type Options = Record<string, boolean>;
interface Tr46 {
  toASCII(domain: string, options?: Options): string | null;
  toUnicode(domain: string, options?: Options): { domain: string; error: boolean };
}

function tr46(): Tr46 {
  return lazyModule<Tr46>("tr46");
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
