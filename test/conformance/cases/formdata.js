// FormData conformance cases, written from the XMLHttpRequest standard (FormData interface) and
// Fetch's multipart/form-data and urlencoded body handling. Plain script in the shape of WPT's
// testharness.js.

test(() => {
  const fd = new FormData();
  assert_array_equals([...fd], []);
  assert_class_string(fd, "FormData");
}, "FormData starts empty");

test(() => {
  assert_equals([...new FormData(undefined)].length, 0);
}, "FormData with undefined");

test(() => {
  assert_throws_js(TypeError, () => FormData());
}, "FormData cannot be called without new");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  fd.append("a", "3");
  assert_equals(fd.get("a"), "1");
  assert_array_equals(fd.getAll("a"), ["1", "3"]);
  assert_true(fd.has("b"));
  assert_false(fd.has("c"));
  assert_equals(fd.get("c"), null);
  assert_array_equals(fd.getAll("c"), []);
}, "append, get, getAll, has");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  fd.append("a", "3");
  fd.set("a", "4");
  assert_array_equals(
    [...fd].map(([k, v]) => `${k}=${v}`),
    ["a=4", "b=2"],
  );
}, "set() replaces the first entry in place and drops the rest");

test(() => {
  const fd = new FormData();
  fd.append("b", "1");
  fd.set("a", "2");
  assert_array_equals([...fd.keys()], ["b", "a"]);
}, "set() of a new name appends");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  fd.append("a", "3");
  fd.delete("a");
  assert_array_equals([...fd.keys()], ["b"]);
}, "delete() removes every entry of the name");

test(() => {
  const fd = new FormData();
  fd.append(1, 2);
  fd.append("n", null);
  assert_equals(fd.get("1"), "2");
  assert_equals(fd.get("n"), "null");
}, "Names and string values are converted to strings");

test(() => {
  const fd = new FormData();
  fd.append("\ud800", "\udc00");
  assert_equals([...fd.keys()][0], "\ufffd");
  assert_equals(fd.get("\ufffd"), "\ufffd");
}, "Names and values are USVStrings");

test(() => {
  const fd = new FormData();
  fd.append("a", "x\r\ny\rz\n");
  assert_equals(fd.get("a"), "x\r\ny\rz\n");
}, "append() keeps line breaks as given");

test(() => {
  const fd = new FormData();
  fd.append("b", new Blob(["x"], { type: "text/plain" }));
  const f = fd.get("b");
  assert_true(f instanceof File);
  assert_equals(f.name, "blob");
  assert_equals(f.type, "text/plain");
  assert_equals(f.size, 1);
}, "A Blob value becomes a File named blob");

test(() => {
  const fd = new FormData();
  fd.append("b", new Blob(["x"]), "given.txt");
  assert_equals(fd.get("b").name, "given.txt");
}, "A Blob with a filename becomes a File with that name");

test(() => {
  const fd = new FormData();
  const file = new File(["x"], "orig.txt", { lastModified: 123 });
  fd.append("f", file);
  assert_equals(fd.get("f"), file);
}, "A File without a filename is kept as is");

test(() => {
  const fd = new FormData();
  const file = new File(["x"], "orig.txt", { type: "a/b", lastModified: 123 });
  fd.append("f", file, "renamed.txt");
  const got = fd.get("f");
  assert_not_equals(got, file);
  assert_equals(got.name, "renamed.txt");
  assert_equals(got.type, "a/b");
  assert_equals(got.lastModified, 123);
}, "A File with a filename is copied with the new name and the same lastModified");

test(() => {
  const fd = new FormData();
  fd.set("f", new Blob(["x"]), "s.txt");
  assert_equals(fd.get("f").name, "s.txt");
}, "set() with a Blob and filename");

test(() => {
  const fd = new FormData();
  assert_throws_js(TypeError, () => fd.append("a", "b", "c"));
  assert_throws_js(TypeError, () => fd.set("a", "b", "c"));
}, "A filename with a string value throws TypeError");

test(() => {
  const fd = new FormData();
  assert_throws_js(TypeError, () => fd.append("a"));
  assert_throws_js(TypeError, () => fd.set("a"));
  assert_throws_js(TypeError, () => fd.get());
  assert_throws_js(TypeError, () => fd.has());
  assert_throws_js(TypeError, () => fd.delete());
}, "Missing arguments throw TypeError");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  const seen = [];
  const self = {};
  fd.forEach(function (v, k, o) {
    seen.push(`${k}=${v}`, o === fd, this === self);
  }, self);
  assert_array_equals(seen, ["a=1", true, true, "b=2", true, true]);
}, "forEach() passes value, name, object and thisArg");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  assert_array_equals([...fd.keys()], ["a", "b"]);
  assert_array_equals([...fd.values()], ["1", "2"]);
  assert_array_equals(
    [...fd.entries()].map((e) => e.join("=")),
    ["a=1", "b=2"],
  );
}, "keys, values and entries keep insertion order");

test(() => {
  assert_equals(FormData.prototype[Symbol.iterator], FormData.prototype.entries);
}, "@@iterator is entries()");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  const it = fd.entries();
  assert_equals(Object.prototype.toString.call(it), "[object FormData Iterator]");
}, "The iterator is a FormData Iterator");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  const it = fd.keys();
  assert_equals(it.next().value, "a");
  fd.append("c", "3");
  assert_equals(it.next().value, "b");
  assert_equals(it.next().value, "c");
  assert_true(it.next().done);
}, "Iteration sees entries added during iteration");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  fd.append("b", "2");
  fd.append("c", "3");
  const keys = [];
  for (const [k] of fd) {
    keys.push(k);
    if (k === "a") fd.delete("a");
  }
  assert_array_equals(keys, ["a", "c"]);
}, "Iteration is by index over the live list");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  assert_array_equals(Object.keys(fd), []);
}, "FormData has no own enumerable properties");

promise_test(async () => {
  const fd = new FormData();
  fd.append("text", "v\u00e9");
  fd.append("file", new File(["bytes"], "f.bin", { type: "application/x-test" }));
  fd.append("blob", new Blob(["b"]));
  const out = await new Response(fd).formData();
  assert_array_equals([...out.keys()], ["text", "file", "blob"]);
  assert_equals(out.get("text"), "v\u00e9");
  assert_equals(out.get("file").name, "f.bin");
  assert_equals(out.get("file").type, "application/x-test");
  assert_equals(await out.get("file").text(), "bytes");
  assert_equals(out.get("blob").name, "blob");
  assert_equals(out.get("blob").type, "application/octet-stream");
}, "Multipart round trip keeps names, filenames, types and bytes");

promise_test(async () => {
  const fd = new FormData();
  fd.append('we"ird\nname', "x");
  fd.append("f", new Blob(["y"]), 'q"uote\r\n.txt');
  const out = await new Response(fd).formData();
  const keys = [...out.keys()];
  assert_equals(keys.length, 2);
  assert_equals(out.get("f") instanceof File, true);
}, "Multipart round trip of names with quotes and line breaks");

promise_test(async () => {
  const fd = new FormData();
  fd.append("a", "l1\nl2\rl3\r\nl4");
  const text = await new Response(fd).text();
  assert_true(text.includes("l1\r\nl2\r\nl3\r\nl4"));
}, "Multipart serialisation normalises string values to CRLF");

promise_test(async () => {
  const fd = new FormData();
  fd.append("a", "1");
  const r = new Response(fd);
  const boundary = r.headers.get("content-type").split("boundary=")[1];
  const text = await r.text();
  assert_true(text.startsWith(`--${boundary}\r\n`));
  assert_true(text.endsWith(`--${boundary}--\r\n`));
  assert_true(text.includes('Content-Disposition: form-data; name="a"\r\n\r\n1\r\n'));
}, "Multipart serialisation shape");

promise_test(async () => {
  const body =
    "--B\r\n" +
    'Content-Disposition: form-data; name="a"\r\n\r\n' +
    "1\r\n" +
    "--B\r\n" +
    'Content-Disposition: form-data; name="f"; filename="x.txt"\r\n' +
    "Content-Type: text/x\r\n\r\n" +
    "data\r\nmore\r\n" +
    "--B--\r\n";
  const fd = await new Response(body, { headers: { "content-type": "multipart/form-data; boundary=B" } }).formData();
  assert_equals(fd.get("a"), "1");
  assert_equals(fd.get("f").name, "x.txt");
  assert_equals(fd.get("f").type, "text/x");
  assert_equals(await fd.get("f").text(), "data\r\nmore");
}, "Parsing a hand-written multipart body");

promise_test(async () => {
  const body = '--"x"\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--"x"--\r\n';
  const body2 = '--q\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--q--\r\n';
  const fd = await new Response(body2, { headers: { "content-type": 'multipart/form-data; boundary="q"' } }).formData();
  assert_equals(fd.get("a"), "1");
  void body;
}, "A quoted boundary parameter");

promise_test(async () => {
  const body = '--B\r\nContent-Disposition: form-data; name="f"; filename="e.bin"\r\n\r\n\r\n--B--\r\n';
  const fd = await new Response(body, { headers: { "content-type": "multipart/form-data; boundary=B" } }).formData();
  assert_equals(fd.get("f").size, 0);
  assert_equals(fd.get("f").type, "text/plain");
}, "A file part without content type is text/plain");

promise_test(async (t) => {
  const r = new Response("--B\r\nbroken", { headers: { "content-type": "multipart/form-data; boundary=B" } });
  await promise_rejects_js(t, TypeError, r.formData());
}, "A broken multipart body rejects with TypeError");

promise_test(async (t) => {
  const r = new Response("x", { headers: { "content-type": "multipart/form-data" } });
  await promise_rejects_js(t, TypeError, r.formData());
}, "Multipart without a boundary rejects with TypeError");

promise_test(async () => {
  const r = new Response("a=1&b=x+y&c=%C3%A9&a=2&d", { headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8" } });
  const fd = await r.formData();
  assert_array_equals(fd.getAll("a"), ["1", "2"]);
  assert_equals(fd.get("b"), "x y");
  assert_equals(fd.get("c"), "\u00e9");
  assert_equals(fd.get("d"), "");
}, "Parsing urlencoded bodies");

promise_test(async () => {
  const r = new Response("", { headers: { "content-type": "application/x-www-form-urlencoded" } });
  assert_equals([...(await r.formData())].length, 0);
}, "An empty urlencoded body gives an empty FormData");

promise_test(async (t) => {
  await promise_rejects_js(t, TypeError, new Response("a=1").formData());
  await promise_rejects_js(t, TypeError, new Response(new Uint8Array([1])).formData());
}, "formData() without a form content type rejects");

promise_test(async () => {
  const r = new Response("a=1", { headers: { "content-type": "Application/X-WWW-Form-URLEncoded" } });
  assert_equals((await r.formData()).get("a"), "1");
}, "The content type is matched case-insensitively");

promise_test(async () => {
  const fd = new FormData();
  fd.append("name \u00e9", "v");
  const back = await new Response(fd).formData();
  assert_equals([...back.keys()][0], "name \u00e9");
}, "Non-ASCII names round-trip");

promise_test(async () => {
  const fd = new FormData();
  const big = new Uint8Array(200000);
  for (let i = 0; i < big.length; i++) big[i] = i % 251;
  fd.append("big", new Blob([big]));
  const back = await new Response(fd).formData();
  const got = new Uint8Array(await back.get("big").arrayBuffer());
  assert_equals(got.length, big.length);
  assert_equals(got[199999], 199999 % 251);
}, "A large binary part round-trips");

promise_test(async () => {
  const fd = new FormData();
  fd.append("a", "1");
  const r = new Request("http://example.com/", { method: "POST", body: fd });
  const back = await r.formData();
  assert_equals(back.get("a"), "1");
}, "FormData as a Request body");

// multipart/form-data parsing, through Response.formData().
const mp = (...lines) => lines.join("\r\n");
const parseMp = (body, type = "multipart/form-data; boundary=B") => new Response(body, { headers: { "content-type": type } }).formData();

promise_test(async () => {
  const fd = await parseMp(mp("--B", "Content-Type: image/png", 'Content-Disposition: form-data; name="f"; filename="i.png"', "", "PNG", "--B--", ""));
  assert_equals(fd.get("f").type, "image/png");
  assert_equals(fd.get("f").name, "i.png");
}, "Parse a Content-Type before the Content-Disposition");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'Content-Disposition: form-data; name="a"', "", "x--B", "--B--", ""));
  assert_equals(fd.get("a"), "x--B");
}, "Parse a value holding the delimiter not preceded by CRLF");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'Content-Disposition: form-data; name="a"', "", "l1", "l2", "--B--", ""));
  assert_equals(fd.get("a"), "l1\r\nl2");
}, "Parse a value holding CRLF");

promise_test(async () => {
  const fd = await parseMp(mp("--B \t", 'Content-Disposition: form-data; name="a"', "", "v", "--B-- \t", "epilogue"));
  assert_equals(fd.get("a"), "v");
}, "Parse transport padding and an epilogue");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'CONTENT-DISPOSITION: form-data; name="a"; filename="f"', "CoNtEnT-TyPe: TEXT/HTML", "X-Other: y", "", "v", "--B--", ""));
  assert_equals(fd.get("a").type, "text/html");
}, "Parse header names case-insensitively and ignore unknown headers");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'Content-Disposition: form-data; name="a%22b"; filename="c%0Ad"', "", "v", "--B--", ""));
  assert_equals([...fd.keys()][0], "a%22b");
  assert_equals(fd.get("a%22b").name, "c%0Ad");
}, "Percent sequences in names and filenames are not decoded");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'Content-Disposition: form-data; name="\u00e9"; filename="\u4e2d.txt"', "", "\ud83d\ude00", "--B--", ""));
  assert_equals([...fd.keys()][0], "\u00e9");
  assert_equals(fd.get("\u00e9").name, "\u4e2d.txt");
}, "Parse non-ASCII names and filenames as UTF-8");

promise_test(async () => {
  const fd = await parseMp(mp("--x.y", 'Content-Disposition: form-data; name="a"', "", "v", "--x.y--", ""), 'multipart/form-data; boundary="x.y"');
  assert_equals(fd.get("a"), "v");
}, "Parse with a quoted boundary");

promise_test(async () => {
  const fd = await parseMp(mp("--B", 'Content-Disposition: form-data; name="a"; filename="f"', "Content-Type: text/html, text/plain", "", "v", "--B--", ""));
  assert_equals(fd.get("a").type, "text/plain");
}, "The last Content-Type value wins");

promise_test(async (t) => {
  for (const body of [
    mp("preamble", "--B", 'Content-Disposition: form-data; name="a"', "", "v", "--B--", ""),
    mp("--B", 'Content-Disposition: form-data; name="a"', "", "v", "--B--junk", ""),
    mp("--B", "", "v", "--B--", ""),
    mp("--B", "Content-Type: text/plain", "", "v", "--B--", ""),
    mp("--B", 'Content-Disposition form-data; name="a"', "", "v", "--B--", ""),
    mp("--B", 'Content-Disposition: form-data; name="a"', "", "v"),
    mp("--B", 'Content-Disposition: form-data; name="a"', "", "v--B--", ""),
    "--B",
  ]) {
    await promise_rejects_js(t, TypeError, parseMp(body), JSON.stringify(body));
  }
}, "Malformed multipart bodies reject with TypeError");

promise_test(async () => {
  const fd = new FormData();
  fd.append("a\nb", "c\nd");
  fd.append("f", new File([], 'e"f\n.txt'));
  const r = new Response(fd);
  const text = await r.text();
  assert_true(text.includes('name="a%0D%0Ab"'), "name escaped after CRLF normalisation");
  assert_true(text.includes('filename="e%22f%0A.txt"'), "filename escaped without normalisation");
  assert_true(text.includes("\r\n\r\nc\r\nd\r\n"), "value normalised");
}, "Serialisation escapes names and filenames");

test(() => {
  const type = new Response(new FormData()).headers.get("content-type");
  const boundary = type.slice("multipart/form-data; boundary=".length);
  assert_regexp_match(boundary, /^[0-9A-Za-z-]{27,70}$/);
  assert_not_equals(boundary, new Response(new FormData()).headers.get("content-type").slice(30));
}, "The boundary is random, 27 to 70 bytes of letters, digits and dashes");

promise_test(async () => {
  const fd = new FormData();
  const r = new Response(fd);
  const boundary = r.headers.get("content-type").split("boundary=")[1];
  assert_equals(await r.text(), `--${boundary}--\r\n`);
}, "An empty FormData serialises to the closing delimiter");
