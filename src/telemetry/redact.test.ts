import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "./logger.ts";
import { Redactor, REDACTED, secretForms } from "./redact.ts";

const SECRET = 'sk_live_"Q\\9/+é';

function encodings(s: string): string[] {
  const b = Buffer.from(s, "utf8");
  return [
    s,
    JSON.stringify(s),
    JSON.stringify(JSON.stringify(s)),
    encodeURIComponent(s),
    encodeURIComponent(encodeURIComponent(s)),
    b.toString("base64"),
    b.toString("base64url"),
    Buffer.concat([Buffer.from("x"), b]).toString("base64"),
    Buffer.concat([Buffer.from("xy"), b]).toString("base64url"),
    b.toString("hex"),
    b.toString("hex").toUpperCase(),
    s.slice(0, 5) + " " + s.slice(5),
    s.slice(0, 3) + "\n  " + s.slice(3, 9) + "\t" + s.slice(9),
    // Pasted into a URL unencoded, as the URL parser serialises it (query, fragment, form).
    new URL(`http://h/p?k=${s}`).search.slice(3),
    new URL(`http://h/p#${s}`).hash.slice(1),
    new URLSearchParams({ k: s }).toString().slice(2),
  ];
}

test("a secret is redacted in every encoding a function can reasonably make of it, inside a JSON log line", () => {
  const r = new Redactor();
  r.use({}, [SECRET]);
  for (const e of encodings(SECRET)) {
    const line = JSON.stringify({ msg: `before ${e} after` });
    const out = r.redact(line);
    assert.ok(out.includes(REDACTED), `${e}: ${out}`);
    for (const f of secretForms(SECRET)) assert.ok(!out.includes(f) && !out.includes(JSON.stringify(f).slice(1, -1)), `${e}: ${f} left in ${out}`);
    assert.ok(!out.includes("sk_live"), out);
  }
});

test("short secrets stay exact; owners are unioned and removed; text without secrets is unchanged", () => {
  const r = new Redactor();
  const a = {};
  const b = {};
  r.use(a, ["abc", "ab"]);
  r.use(b, ["longer-secret"]);
  assert.equal(r.redact("xabcx a b c ab"), `x${REDACTED}x a b c ab`);
  assert.equal(r.redact("longer-secret"), REDACTED);
  r.use(b, []);
  assert.equal(r.redact("longer-secret"), "longer-secret");
  r.use(a, []);
  assert.equal(r.redact("abc"), "abc");
});

test("a hostile line (long runs of whitespace and near-misses) is redacted without blowing up", () => {
  const r = new Redactor();
  r.use({}, ["a b c d e f g"]);
  const line = `a${" ".repeat(20_000)}b c d e f x`.repeat(5);
  assert.equal(r.redact(line), line);
});

test("every line of a logger passes its redactor, whatever the field", () => {
  const r = new Redactor();
  r.use({}, [SECRET]);
  const lines: string[] = [];
  const sink = { write: (l: string): boolean => lines.push(l) > 0 } as unknown as NodeJS.WritableStream;
  const log = createLogger({ json: true, destination: sink, redactor: r });
  log.info({ detail: { nested: Buffer.from(SECRET).toString("base64") }, [SECRET]: 1 }, `msg ${encodeURIComponent(SECRET)}`);
  assert.equal(lines.length, 1);
  assert.ok(!lines[0]!.includes("sk_live"), lines[0]);
  assert.equal(lines[0]!.split(REDACTED).length - 1, 3, lines[0]);
});
