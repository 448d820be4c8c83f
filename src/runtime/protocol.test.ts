// The host side of the isolate boundary, fuzzed: whatever an isolate sends (any string as a reply
// batch, a reply, a task reply; any value as a body list or a pulled chunk), the decoders give a
// valid result or a coded Violation. They never throw, never hang, and never build anything
// larger than what they were given (a claimed count or length allocates nothing).
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import {
  MAX_HEADERS,
  decodeChunk,
  decodeFrames,
  decodeReply,
  decodeTask,
  encodeError,
  encodeFrame,
  encodeResponse,
  encodeTask,
  isViolation,
  type TaskOutcomeWire,
} from "./protocol.ts";

const RUNS = { numRuns: 2000 };
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
const FIELD = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Numbers as an isolate might write them: fine, huge, negative, fractional, not numbers at all. */
const numberish = fc.oneof(
  fc.nat({ max: 1000 }).map(String),
  fc.constantFrom("200", "404", "599", "0", "-1", "1e9", "1000000000", "9999999999999999999", "007", "", " 1", "NaN", "0x10", "1.5"),
  fc.string({ maxLength: 6 }),
);
const piece = fc.oneof(numberish, fc.string({ maxLength: 12 }), fc.constantFrom("content-type", "Content-Length", "x\ny", "é", "\u2028", "\x00"));
/** Strings shaped like "R" replies, so the fuzzer reaches past the first field. */
const replyish = fc
  .tuple(fc.constantFrom("R\n", "E\n", "T\n", "R", "", "X\n"), fc.array(piece, { maxLength: 14 }), fc.string({ maxLength: 10 }))
  .map(([k, parts, tail]) => k + parts.join("\n") + (parts.length ? "\n" : "") + tail);
/** Strings shaped like reply batches. */
const frameish = fc
  .array(fc.tuple(numberish, numberish, fc.oneof(replyish, fc.string({ maxLength: 20 }))), { maxLength: 5 })
  .map((fs) => fs.map(([id, len, p]) => `${id}\x01${len}\x01${p}`).join(""));
const bodies = fc.oneof(fc.constant(undefined), fc.array(fc.oneof(fc.uint8Array({ maxLength: 8 }), fc.anything()), { maxLength: 4 }), fc.anything());

function assertWellFormed(input: string, r: ReturnType<typeof decodeReply>): void {
  if (isViolation(r)) {
    assert.equal(r.code, "STRATUS_E_BAD_RESPONSE");
    assert.equal(typeof r.message, "string");
    assert.ok(r.message.length < 600, "a violation quotes hostile text in bounded form");
    return;
  }
  if (r.kind === "E") {
    assert.match(r.code, /^STRATUS_E_[A-Z0-9_]+$/);
    assert.ok(r.message.length <= input.length);
    return;
  }
  assert.ok(r.status >= 200 && r.status <= 599);
  assert.ok(Number.isSafeInteger(r.streamId) && r.streamId >= 0);
  assert.ok(Number.isSafeInteger(r.waits) && r.waits >= 0);
  assert.match(r.statusText, FIELD);
  assert.equal(r.headers.length % 2, 0);
  assert.ok(r.headers.length <= 2 * MAX_HEADERS);
  // Built only from what was there: every header took at least two line breaks of the input.
  assert.ok(r.headers.length <= input.split("\n").length);
  for (let i = 0; i < r.headers.length; i += 2) {
    assert.match(r.headers[i]!, TOKEN);
    assert.match(r.headers[i + 1]!, FIELD);
  }
  assert.ok(r.body === null || typeof r.body === "string" || r.body instanceof Uint8Array);
}

describe("the host side of the isolate boundary", () => {
  test("any reply batch is split into frames or refused with a reason, and every frame is part of the input", () => {
    fc.assert(
      fc.property(fc.oneof(frameish, fc.string(), fc.string({ unit: "binary" })), (batch) => {
        let total = 0;
        const problem = decodeFrames(batch, (id, payload) => {
          assert.ok(Number.isSafeInteger(id) && id >= 1);
          total += payload.length;
        });
        assert.ok(problem === null || typeof problem === "string");
        assert.ok(total <= batch.length);
      }),
      RUNS,
    );
  });

  test("a reply batch that is not a string is refused", () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        fc.pre(typeof v !== "string");
        assert.equal(typeof decodeFrames(v, () => assert.fail("no frame from a non-string")), "string");
      }),
    );
  });

  test("any reply, with any bodies beside it, decodes to a legal response, an error or a Violation", () => {
    fc.assert(
      fc.property(fc.oneof(replyish, fc.string(), fc.string({ unit: "binary" })), bodies, (payload, b) => assertWellFormed(payload, decodeReply(payload, b))),
      RUNS,
    );
  });

  test("claimed counts and lengths allocate nothing: a reply that claims a billion headers or a huge length is refused", () => {
    for (const claim of ["1000000000", "1001", "99999999999999999"]) {
      const r = decodeReply(`R\n200\n0\n0\n0\nOK\n${claim}\n`, undefined);
      assert.ok(isViolation(r), claim);
    }
    // Claims within the bounds but beyond the content end inside the headers, not in a loop.
    assert.match((decodeReply("R\n200\n0\n0\n0\nOK\n1000\nx\n", undefined) as { message: string }).message, /ends inside header/);
    assert.match(decodeFrames("1\x0199999999999999\x01R", () => undefined) ?? "", /claims length/);
    assert.match(decodeFrames("-1\x015\x01R\n200", () => undefined) ?? "", /id "-1"/);
    assert.match(decodeFrames("17", () => undefined) ?? "", /no id/);
  });

  test("legal responses survive the trip through the wire format unchanged", () => {
    const name = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
    const value = fc.stringMatching(/^[\t\x20-\x7e\x80-\xff]{0,40}$/);
    fc.assert(
      fc.property(
        fc.integer({ min: 200, max: 599 }),
        fc.nat(),
        fc.stringMatching(/^[\t\x20-\x7e\x80-\xff]{0,30}$/),
        fc.array(fc.tuple(name, value), { maxLength: 20 }),
        fc.oneof(fc.string(), fc.uint8Array()),
        (status, waits, statusText, pairs, body) => {
          const bytes = body instanceof Uint8Array;
          const flat = pairs.flat();
          const r = decodeReply(encodeResponse(status, waits, 0, bytes ? 1 : 0, statusText, flat, bytes ? "" : body), bytes ? [body] : []);
          assert.deepEqual(r, { kind: "R", status, statusText, headers: flat, body, streamId: 0, waits });
        },
      ),
      RUNS,
    );
  });

  test("a line break in statusText or a header is caught where the reply is built, with a message that names it", () => {
    const r = decodeReply(encodeResponse(200, 0, 0, 0, "OK\nx-injected: 1", [], "body"), undefined);
    assert.ok(!isViolation(r) && r.kind === "E");
    assert.equal(r.code, "STRATUS_E_BAD_RESPONSE");
    assert.match(r.message, /statusText "OK\\nx-injected: 1" contains a line break/);
    const h = decodeReply(encodeResponse(200, 0, 0, 0, "", ["x-a", "1\n2"], ""), undefined);
    assert.ok(!isViolation(h) && h.kind === "E" && /header value/.test(h.message));
  });

  test("a header name that is not a lowercase token is refused (an uppercase Content-Length would slip past the gateway)", () => {
    for (const name of ["Content-Length", "x y", "", "x:y", "é"]) {
      const r = decodeReply(`R\n200\n0\n0\n0\n\n1\n${name}\n0\nok`, undefined);
      assert.ok(isViolation(r), name);
    }
  });

  test("any task reply decodes to one well-formed outcome per unit or a Violation", () => {
    const outcome = fc.oneof(
      fc.constant([0]),
      fc.tuple(fc.constant(1), fc.constantFrom("STRATUS_E_HANDLER_THREW", "nope", ""), fc.string(), fc.boolean()),
      fc.anything(),
    );
    fc.assert(
      fc.property(
        fc.oneof(
          fc.array(outcome, { maxLength: 5 }).map((a) => `T\n${JSON.stringify(a)}`),
          fc.anything().map((v) => `T\n${JSON.stringify(v) ?? ""}`),
          fc.string(),
        ),
        fc.nat({ max: 5 }),
        (payload, units) => {
          const r = decodeTask(payload, units);
          if (isViolation(r)) return assert.equal(r.code, "STRATUS_E_BAD_RESPONSE");
          assert.equal(r.length, units);
          for (const o of r) {
            if (o[0] === 0) assert.equal(o.length, 1);
            else assert.ok(o.length === 4 && /^STRATUS_E_/.test(o[1]) && typeof o[2] === "string" && typeof o[3] === "boolean");
          }
        },
      ),
      RUNS,
    );
    const ok: TaskOutcomeWire[] = [[0], [1, "STRATUS_E_HANDLER_THREW", "boom", true]];
    assert.deepEqual(decodeTask(encodeTask(ok), 2), ok);
  });

  test("a pulled chunk is a Uint8Array or null; anything else is a Violation", () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), fc.uint8Array()), (v) => {
        const r = decodeChunk(v);
        if (v === null || v instanceof Uint8Array) assert.equal(r, v);
        else assert.ok(isViolation(r));
      }),
      RUNS,
    );
  });

  test("frames round-trip, and an error reply keeps its code and message", () => {
    const got: [number, string][] = [];
    assert.equal(
      decodeFrames(encodeFrame(7, "R\n200\n0\n0\n0\n\n0\nhi") + encodeFrame(8, encodeError("STRATUS_E_HANDLER_THREW", "a\nb")), (id, p) => got.push([id, p])),
      null,
    );
    assert.deepEqual(got[0], [7, "R\n200\n0\n0\n0\n\n0\nhi"]);
    assert.deepEqual(decodeReply(got[1]![1], undefined), { kind: "E", code: "STRATUS_E_HANDLER_THREW", message: "a\nb" });
  });
});
