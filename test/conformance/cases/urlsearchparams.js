// WHATWG URL: URLSearchParams and application/x-www-form-urlencoded.

test(() => {
  const p = new URLSearchParams("a=1&b=2&a=3");
  assert_equals(p.get("a"), "1");
  assert_array_equals(p.getAll("a"), ["1", "3"]);
  assert_equals(p.get("c"), null);
  assert_array_equals(p.getAll("c"), []);
}, "get and getAll");

test(() => {
  assert_equals(new URLSearchParams("?a=1").get("a"), "1");
  assert_equals(new URLSearchParams("??a=1").get("?a"), "1");
}, "one leading ? is stripped");

test(() => {
  const p = new URLSearchParams("a+b=c+d&e%20f=%41");
  assert_equals(p.get("a b"), "c d");
  assert_equals(p.get("e f"), "A");
}, "+ and percent-escapes decode");

test(() => {
  const p = new URLSearchParams("a=%zz&b=%4&c=%");
  assert_equals(p.get("a"), "%zz");
  assert_equals(p.get("b"), "%4");
  assert_equals(p.get("c"), "%");
}, "invalid percent-escapes are kept");

test(() => {
  const p = new URLSearchParams("a=%FF&b=%C3%A9");
  assert_equals(p.get("a"), "\ufffd");
  assert_equals(p.get("b"), "\u00e9");
}, "bytes decode as UTF-8 without BOM, invalid ones as U+FFFD");

test(() => {
  const p = new URLSearchParams("&&a&=b&c=&=&");
  assert_array_equals([...p.keys()], ["a", "", "c", ""]);
  assert_array_equals([...p.values()], ["", "b", "", ""]);
}, "empty pairs are skipped, missing = gives an empty value");

test(() => {
  const p = new URLSearchParams({ a: "1", b: "2" });
  assert_equals(p.toString(), "a=1&b=2");
}, "init from a record");

test(() => {
  const p = new URLSearchParams([
    ["a", "1"],
    ["a", "2"],
  ]);
  assert_equals(p.toString(), "a=1&a=2");
}, "init from a sequence of pairs");

test(() => {
  assert_throws_js(TypeError, () => new URLSearchParams([["a"]]));
  assert_throws_js(TypeError, () => new URLSearchParams([["a", "b", "c"]]));
}, "pairs of the wrong length throw TypeError");

test(() => {
  const p = new URLSearchParams(new Map([["k", "v"]]));
  assert_equals(p.get("k"), "v");
}, "init from an iterable (Map)");

test(() => {
  const a = new URLSearchParams("x=1");
  const b = new URLSearchParams(a);
  b.append("y", "2");
  assert_equals(a.toString(), "x=1");
  assert_equals(b.toString(), "x=1&y=2");
}, "init from another URLSearchParams copies it");

test(() => {
  const p = new URLSearchParams();
  p.append("a b", "c&d=e");
  p.append("é", "€");
  p.append("*-._", "~!'()");
  assert_equals(p.toString(), "a+b=c%26d%3De&%C3%A9=%E2%82%AC&*-._=%7E%21%27%28%29");
}, "serialization uses the form-urlencoded percent-encode set");

test(() => {
  const p = new URLSearchParams();
  p.append("a", "\ud800");
  assert_equals(p.toString(), "a=%EF%BF%BD");
}, "lone surrogates serialize as U+FFFD");

test(() => {
  const p = new URLSearchParams("a=1&b=2&a=3");
  p.set("a", "4");
  assert_equals(p.toString(), "a=4&b=2");
  p.set("c", "5");
  assert_equals(p.toString(), "a=4&b=2&c=5");
}, "set replaces the first and removes the rest");

test(() => {
  const p = new URLSearchParams("a=1&b=2&a=3");
  p.delete("a");
  assert_equals(p.toString(), "b=2");
}, "delete(name)");

test(() => {
  const p = new URLSearchParams("a=1&b=2&a=3");
  p.delete("a", "3");
  assert_equals(p.toString(), "a=1&b=2");
  p.delete("a", undefined);
  assert_equals(p.toString(), "b=2");
}, "delete(name, value)");

test(() => {
  const p = new URLSearchParams("a=1&b=2");
  assert_true(p.has("a"));
  assert_false(p.has("c"));
  assert_true(p.has("a", "1"));
  assert_false(p.has("a", "2"));
  assert_true(p.has("a", undefined));
}, "has(name) and has(name, value)");

test(() => {
  const p = new URLSearchParams("z=1&a=2&b=3&a=1");
  p.sort();
  assert_equals(p.toString(), "a=2&a=1&b=3&z=1");
}, "sort is stable and by code units");

test(() => {
  const p = new URLSearchParams("\ud83d\ude00=1&\uffff=2");
  p.sort();
  assert_array_equals([...p.keys()], ["\ud83d\ude00", "\uffff"]);
}, "sort compares UTF-16 code units");

test(() => {
  const p = new URLSearchParams("a=1&b=2&c=3");
  assert_equals(p.size, 3);
  p.append("a", "4");
  assert_equals(p.size, 4);
}, "size");

test(() => {
  const p = new URLSearchParams("a=1&b=2");
  const seen = [];
  p.forEach((value, key, obj) => {
    seen.push(`${key}=${value}`);
    assert_equals(obj, p);
  });
  assert_array_equals(seen, ["a=1", "b=2"]);
  assert_array_equals(
    [...p].map(([k, v]) => k + v),
    ["a1", "b2"],
  );
  assert_array_equals(
    [...p.entries()].map(([k, v]) => k + v),
    ["a1", "b2"],
  );
}, "forEach, iteration and entries");

test(() => {
  const p = new URLSearchParams("a=1&b=2&c=3");
  const seen = [];
  for (const [k] of p) {
    seen.push(k);
    if (k === "a") p.delete("b");
  }
  assert_array_equals(seen, ["a", "c"]);
}, "iteration sees deletions made during it");

test(() => {
  const p = new URLSearchParams();
  p.append(1, null);
  p.append(undefined, {});
  assert_equals(p.toString(), "1=null&undefined=%5Bobject+Object%5D");
}, "names and values are converted to strings");

test(() => {
  assert_throws_js(TypeError, () => URLSearchParams());
  assert_throws_js(TypeError, () => new URLSearchParams().append("a"));
}, "constructor needs new; append needs two arguments");

test(() => {
  assert_class_string(new URLSearchParams(), "URLSearchParams");
  assert_class_string(new URLSearchParams()[Symbol.iterator](), "URLSearchParams Iterator");
}, "class strings");

test(() => {
  const url = new URL("http://example.com/?a=b%20c");
  assert_equals(url.searchParams.get("a"), "b c");
  url.searchParams.sort();
  assert_equals(url.search, "?a=b+c", "an update reserializes the query");
}, "an update of URL.searchParams reserializes the URL's query");

test(() => {
  const url = new URL("http://example.com/?");
  url.searchParams.sort();
  assert_equals(url.href, "http://example.com/");
}, "sorting an empty query drops the ?");

test(() => {
  const p = new URLSearchParams("a=1");
  assert_equals(Object.getPrototypeOf(p[Symbol.iterator]()).next.length, 0);
  assert_equals(URLSearchParams.prototype[Symbol.iterator], URLSearchParams.prototype.entries);
}, "the iterator is entries");
