// HTML: atob() and btoa() (forgiving-base64), errors as DOMException InvalidCharacterError.

const encodes = [
  ["", ""],
  ["f", "Zg=="],
  ["fo", "Zm8="],
  ["foo", "Zm9v"],
  ["foob", "Zm9vYg=="],
  ["fooba", "Zm9vYmE="],
  ["foobar", "Zm9vYmFy"],
  ["\u0000\u00ff\u0080", "AP+A"],
  ["\u00fb\u00ff", "+/8="],
];
for (const [input, expected] of encodes) {
  test(() => assert_equals(btoa(input), expected), `btoa(${JSON.stringify(input)})`);
  test(() => assert_equals(atob(expected), input), `atob(${JSON.stringify(expected)})`);
}

test(() => {
  assert_equals(btoa(undefined), "dW5kZWZpbmVk");
  assert_equals(btoa(null), "bnVsbA==");
  assert_equals(btoa(12), "MTI=");
  assert_equals(btoa({ toString: () => "x" }), "eA==");
}, "btoa converts its argument to a string");

test(() => {
  assert_throws_js(TypeError, () => btoa());
  assert_throws_js(TypeError, () => atob());
}, "both need an argument");

for (const s of ["\u0100", "\u20ac", "a\ud800", "\ud83d\ude00"]) {
  test(() => assert_throws_dom("InvalidCharacterError", () => btoa(s)), `btoa(${JSON.stringify(s)}) throws InvalidCharacterError`);
}

const decodes = [
  ["Zg", "f"],
  ["Zg=", null],
  ["Zg==", "f"],
  ["Zg===", null],
  ["Zm8", "fo"],
  ["Zm8=", "fo"],
  ["Zm8==", null],
  [" Z g = = ", "f"],
  ["\tZ\ng\fx\r", "f\f"],
  ["Zg\u000b==", null],
  ["Zh==", "f"],
  ["Z", null],
  ["ZmZmZ", null],
  ["=Zg==", null],
  ["Z=g=", null],
  ["Zm9v!", null],
  ["Zm9v-", null],
  ["Zm9v_", null],
  ["Zm9v\u00a0", null],
  ["\u0100", null],
  ["", ""],
  ["====", null],
  ["AP+A", "\u0000\u00ff\u0080"],
  ["ab=c", null],
];
for (const [input, expected] of decodes) {
  test(
    () => {
      if (expected === null) assert_throws_dom("InvalidCharacterError", () => atob(input));
      else assert_equals(atob(input), expected);
    },
    `atob(${JSON.stringify(input)})${expected === null ? " throws InvalidCharacterError" : ""}`,
  );
}

test(() => {
  assert_throws_dom("InvalidCharacterError", () => atob(undefined), '"undefined" has 9 characters');
  assert_equals(atob(null), "\u009e\u00e9e", '"null" is valid base64');
  assert_equals(atob(12), "\u00d7");
}, "atob converts its argument to a string");

test(() => {
  let s = "";
  for (let i = 0; i < 256; i++) s += String.fromCharCode(i);
  assert_equals(atob(btoa(s)), s);
}, "every Latin-1 character round-trips");

test(() => {
  assert_equals(atob.length, 1);
  assert_equals(btoa.length, 1);
  assert_equals(atob.name, "atob");
  assert_equals(btoa.name, "btoa");
}, "length and name");
