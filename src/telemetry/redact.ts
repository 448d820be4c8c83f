/**
 * Secret redaction at the one place every log line passes: the logger's output, after a record is
 * serialised. A secret is replaced in every encoding a function can reasonably produce from it:
 * as is, JSON-escaped (once or twice, \u-escaped), URL-encoded, base64 and base64url at each of the
 * three byte alignments, hex, and split by whitespace across a console line's arguments.
 */

/** What a secret is replaced with. */
export const REDACTED = "[REDACTED]";

/** Shorter secrets are not redacted (they would match ordinary text); shorter encoded forms neither. */
const MIN_SECRET = 3;
const MIN_FORM = 6;
/** Secrets at least this long are also found split by whitespace (console.log(a, b) joins with a space). */
const MIN_SPLIT = 6;

function jsonEscape(s: string): string {
  return JSON.stringify(s).slice(1, -1);
}

function unicodeEscape(s: string, all: boolean): string {
  let out = "";
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (!all && c < 0x80) out += ch;
    else for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, "0")}`;
  }
  return out;
}

/** The base64 characters that encode only `bytes`, at each of the three alignments it can start at. */
function base64Runs(bytes: Buffer): string[] {
  const out: string[] = [];
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift), bytes])
      .toString("base64")
      .replace(/=+$/, "");
    const start = Math.ceil((shift * 8) / 6);
    const end = Math.floor(((shift + bytes.length) * 8) / 6);
    if (end > start) out.push(b64.slice(start, end));
  }
  return out;
}

/** Every encoded form of `secret` that is redacted. */
export function secretForms(secret: string): string[] {
  const bytes = Buffer.from(secret, "utf8");
  const forms = new Set<string>([secret]);
  const add = (f: string): void => void (f.length >= MIN_FORM && forms.add(f));
  add(jsonEscape(secret));
  add(jsonEscape(jsonEscape(secret)));
  add(unicodeEscape(secret, false));
  add(unicodeEscape(secret, true));
  const url = encodeURIComponent(secret);
  add(url);
  add(url.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
  add(url.replace(/%20/g, "+"));
  add(encodeURIComponent(url));
  // As a URL serialises it when the secret is pasted into one unencoded: the WHATWG query, path
  // and form encode sets keep characters encodeURIComponent escapes (/ + \ ...).
  try {
    const u = new URL(`http://x/?${secret}`);
    add(u.search.slice(1));
    add(new URL(`http://x/p#${secret}`).hash.slice(1));
    add(new URLSearchParams({ k: secret }).toString().slice(2));
  } catch {
    // Not reachable for a string after "http://x/?"; a URL that will not parse holds no form.
  }
  for (const run of base64Runs(bytes)) {
    add(run);
    add(run.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  add(bytes.toString("hex"));
  add(bytes.toString("hex").toUpperCase());
  return [...forms];
}

function escapeRegExp(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/-]/g, "\\$&");
}

/**
 * A pattern for `secret` with any whitespace (or an escaped \n, \r, \t) between its characters.
 * Only the secret's other characters are literal, and none of them (JSON-escaped) starts like a gap
 * (whitespace, or a backslash before n, r or t), so matching stays linear.
 */
function splitPattern(secret: string): string | null {
  const chars = [...secret.replace(/\s+/g, "")];
  if (chars.length < MIN_SPLIT) return null;
  // As it appears in a JSON line: a quote or a control character is escaped there.
  return chars.map((c) => escapeRegExp(jsonEscape(c))).join("(?:\\s|\\\\[nrt])*");
}

/** Redacts a set of secrets from text; the sets of several owners (stack hosts) are unioned. */
export class Redactor {
  readonly #owners = new Map<object, readonly string[]>();
  #pattern: RegExp | null = null;

  /** Sets the secret values of `owner` (replacing its earlier ones); an empty list removes it. */
  use(owner: object, secrets: Iterable<string>): void {
    const list = [...secrets].filter((s) => s.length >= MIN_SECRET);
    if (list.length === 0) this.#owners.delete(owner);
    else this.#owners.set(owner, list);
    this.#compile();
  }

  #compile(): void {
    const literal = new Set<string>();
    const split = new Set<string>();
    for (const list of this.#owners.values()) {
      for (const secret of list) {
        for (const f of secretForms(secret)) {
          literal.add(f);
          // A form inside a log record's string reaches the line JSON-escaped.
          literal.add(jsonEscape(f));
        }
        const p = splitPattern(secret);
        if (p) split.add(p);
      }
    }
    if (literal.size === 0) {
      this.#pattern = null;
      return;
    }
    // Longest first, so a longer form is replaced whole rather than a shorter one inside it.
    const parts = [...[...literal].sort((a, b) => b.length - a.length).map(escapeRegExp), ...split];
    this.#pattern = new RegExp(parts.join("|"), "g");
  }

  /** `text` with every form of every secret replaced by [REDACTED]. */
  redact(text: string): string {
    const p = this.#pattern;
    if (!p) return text;
    p.lastIndex = 0;
    return text.replace(p, REDACTED);
  }
}

/** The process's redactor: every logger createLogger makes passes its lines through it. */
export const secretRedactor = new Redactor();
