// Response conformance cases, written from the WHATWG Fetch standard (sections "Response class"
// and "Body mixin"). Plain script in the shape of WPT's testharness.js.

test(() => {
  const r = new Response();
  assert_equals(r.status, 200);
  assert_equals(r.statusText, "");
  assert_true(r.ok);
  assert_equals(r.type, "default");
  assert_equals(r.url, "");
  assert_false(r.redirected);
  assert_equals(r.body, null);
  assert_false(r.bodyUsed);
  assert_class_string(r, "Response");
}, "Response defaults");

test(() => {
  for (const s of [200, 201, 299, 300, 404, 500, 599]) assert_equals(new Response(null, { status: s }).status, s);
}, "Response accepts statuses 200 to 599");

test(() => {
  for (const s of [0, 100, 199, 600, 1000, -1]) assert_throws_js(RangeError, () => new Response(null, { status: s }), String(s));
}, "Response rejects statuses outside 200 to 599 with RangeError");

test(() => {
  assert_equals(new Response(null, { status: 404.0 }).status, 404);
  assert_equals(new Response(null, { status: "404" }).status, 404);
}, "Status is converted as an unsigned short");

test(() => {
  for (const s of [300, 399, 404, 500]) assert_false(new Response(null, { status: s }).ok, String(s));
  assert_true(new Response(null, { status: 204 }).ok);
}, "ok is true only for 2xx");

test(() => {
  assert_equals(new Response(null, { statusText: "Fine \u00e9 \t" }).statusText, "Fine \u00e9 \t");
}, "statusText accepts the reason-phrase characters");

test(() => {
  for (const bad of ["a\nb", "a\rb", "\u0100", "a\u0000", "\u007f"]) {
    assert_throws_js(TypeError, () => new Response(null, { statusText: bad }), JSON.stringify(bad));
  }
}, "statusText rejects line breaks, controls and non-Latin-1");

test(() => {
  for (const s of [101, 204, 205, 304]) {
    assert_throws_js(TypeError, () => new Response("x", { status: s === 101 ? 204 : s }), String(s));
  }
}, "A null-body status with a body throws TypeError");

test(() => {
  assert_equals(new Response(null, { status: 204 }).body, null);
  assert_equals(new Response(undefined, { status: 304 }).status, 304);
}, "A null-body status without a body is fine");

test(() => {
  assert_throws_js(TypeError, () => new Response("x", { status: 204 }));
  assert_throws_js(TypeError, () => new Response("", { status: 205 }));
}, "Even an empty string body is refused with 204 and 205");

test(() => {
  const r = new Response("", {});
  assert_not_equals(r.body, null);
}, "An empty string body is still a body");

test(() => {
  const r = new Response("x", { headers: { "X-A": "1" } });
  assert_equals(r.headers.get("x-a"), "1");
  assert_equals(r.headers.get("content-type"), "text/plain;charset=UTF-8");
}, "String body sets text/plain;charset=UTF-8");

test(() => {
  const r = new Response("x", { headers: { "content-type": "text/html" } });
  assert_equals(r.headers.get("content-type"), "text/html");
}, "An explicit content type wins over the body's");

test(() => {
  const r = new Response(new URLSearchParams("a=1"));
  assert_equals(r.headers.get("content-type"), "application/x-www-form-urlencoded;charset=UTF-8");
}, "URLSearchParams body content type");

test(() => {
  const r = new Response(new Blob(["x"], { type: "image/png" }));
  assert_equals(r.headers.get("content-type"), "image/png");
  assert_false(new Response(new Blob(["x"])).headers.has("content-type"));
}, "Blob body content type is the blob's type, none when empty");

test(() => {
  assert_false(new Response(new Uint8Array([1])).headers.has("content-type"));
  assert_false(new Response(new ArrayBuffer(1)).headers.has("content-type"));
  assert_false(new Response(new ReadableStream()).headers.has("content-type"));
}, "Bytes and stream bodies set no content type");

test(() => {
  const fd = new FormData();
  fd.append("a", "1");
  const r = new Response(fd);
  assert_regexp_match(r.headers.get("content-type"), /^multipart\/form-data; boundary=/);
}, "FormData body content type has a boundary");

promise_test(async () => {
  const r = new Response(12);
  assert_equals(await r.text(), "12");
}, "Non-body values are converted to strings");

promise_test(async () => {
  const r = new Response("héllo");
  assert_equals(await r.text(), "héllo");
  assert_true(r.bodyUsed);
}, "text() reads the body and marks it used");

promise_test(async (t) => {
  const r = new Response("x");
  await r.text();
  await promise_rejects_js(t, TypeError, r.text());
  await promise_rejects_js(t, TypeError, r.arrayBuffer());
}, "Reading a used body rejects with TypeError");

promise_test(async () => {
  const r = new Response(new Uint8Array([1, 2, 3]));
  const ab = await r.arrayBuffer();
  assert_true(ab instanceof ArrayBuffer);
  assert_array_equals(new Uint8Array(ab), [1, 2, 3]);
}, "arrayBuffer() returns an ArrayBuffer");

promise_test(async () => {
  const r = new Response("abc");
  const b = await r.bytes();
  assert_true(b instanceof Uint8Array);
  assert_array_equals(b, [97, 98, 99]);
}, "bytes() returns a Uint8Array");

promise_test(async () => {
  const src = new Uint8Array([1, 2]);
  const r = new Response(src);
  src[0] = 9;
  assert_array_equals(await r.bytes(), [1, 2]);
}, "A typed array body is copied at construction");

promise_test(async () => {
  const buf = new ArrayBuffer(4);
  const view = new Uint8Array(buf, 1, 2);
  view.set([5, 6]);
  assert_array_equals(await new Response(view).bytes(), [5, 6]);
}, "A typed array view reads only its window");

promise_test(async () => {
  const r = new Response('{"a":[1,2]}');
  const v = await r.json();
  assert_array_equals(v.a, [1, 2]);
}, "json() parses the body");

promise_test(async (t) => {
  await promise_rejects_js(t, SyntaxError, new Response("{").json());
}, "json() of invalid JSON rejects with SyntaxError");

promise_test(async () => {
  const r = new Response("x", { headers: { "content-type": "Text/Plain" } });
  const b = await r.blob();
  assert_true(b instanceof Blob);
  assert_equals(b.type, "text/plain");
  assert_equals(b.size, 1);
}, "blob() takes the content type");

promise_test(async () => {
  const r = new Response(new Uint8Array([1]));
  assert_equals((await r.blob()).type, "");
}, "blob() without content type has an empty type");

promise_test(async () => {
  const r = new Response("a=1&b=2&a=3", { headers: { "content-type": "application/x-www-form-urlencoded" } });
  const fd = await r.formData();
  assert_array_equals(fd.getAll("a"), ["1", "3"]);
}, "formData() parses urlencoded bodies");

promise_test(async () => {
  const fd = new FormData();
  fd.append("t", "text");
  fd.append("f", new Blob(["data"], { type: "text/x-y" }), "f.txt");
  const back = await new Response(fd).formData();
  assert_equals(back.get("t"), "text");
  const f = back.get("f");
  assert_true(f instanceof File);
  assert_equals(f.name, "f.txt");
  assert_equals(f.type, "text/x-y");
  assert_equals(await f.text(), "data");
}, "formData() round-trips multipart bodies");

promise_test(async (t) => {
  await promise_rejects_js(t, TypeError, new Response("x", { headers: { "content-type": "text/plain" } }).formData());
}, "formData() of another content type rejects with TypeError");

promise_test(async () => {
  const stream = new ReadableStream({
    start(c) {
      c.enqueue(new Uint8Array([104, 105]));
      c.close();
    },
  });
  const r = new Response(stream);
  assert_equals(r.body, stream);
  assert_equals(await r.text(), "hi");
}, "A ReadableStream body is used as is");

promise_test(async () => {
  const r = new Response("abc");
  const reader = r.body.getReader();
  let out = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  assert_equals(out, "abc");
  assert_true(r.bodyUsed);
}, "Reading body through a reader marks it used");

promise_test(async (t) => {
  const r = new Response("abc");
  r.body.getReader();
  assert_false(r.bodyUsed);
  await promise_rejects_js(t, TypeError, r.text());
}, "text() of a locked body rejects with TypeError");

test(() => {
  const r = new Response("abc");
  assert_equals(r.body, r.body);
}, "body returns the same stream each time");

test(() => {
  const stream = new ReadableStream();
  stream.getReader();
  assert_throws_js(TypeError, () => new Response(stream));
}, "A locked stream cannot be a body");

promise_test(async () => {
  const r = new Response("abc", { status: 201, statusText: "Made", headers: { a: "1" } });
  const c = r.clone();
  assert_equals(c.status, 201);
  assert_equals(c.statusText, "Made");
  assert_equals(c.headers.get("a"), "1");
  assert_equals(await c.text(), "abc");
  assert_equals(await r.text(), "abc");
}, "clone() copies status, headers and body");

test(() => {
  const r = new Response("a", { headers: { a: "1" } });
  const c = r.clone();
  c.headers.set("a", "2");
  assert_equals(r.headers.get("a"), "1");
}, "A clone's headers are independent");

promise_test(async () => {
  const r = new Response(
    new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([1]));
        c.enqueue(new Uint8Array([2]));
        c.close();
      },
    }),
  );
  const c = r.clone();
  assert_array_equals(await c.bytes(), [1, 2]);
  assert_array_equals(await r.bytes(), [1, 2]);
}, "clone() of a stream body tees it");

promise_test(async (t) => {
  const r = new Response("x");
  await r.text();
  assert_throws_js(TypeError, () => r.clone());
}, "clone() of a used body throws TypeError");

test(() => {
  const r = new Response("x");
  r.body.getReader();
  assert_throws_js(TypeError, () => r.clone());
}, "clone() of a locked body throws TypeError");

test(() => {
  const r = Response.error();
  assert_equals(r.type, "error");
  assert_equals(r.status, 0);
  assert_equals(r.statusText, "");
  assert_false(r.ok);
  assert_equals(r.body, null);
  assert_array_equals([...r.headers], []);
}, "Response.error()");

test(() => {
  const c = Response.error().clone();
  assert_equals(c.type, "error");
  assert_equals(c.status, 0);
}, "clone() of an error response stays an error");

test(() => {
  const r = Response.redirect("http://example.com/a?b#c");
  assert_equals(r.status, 302);
  assert_equals(r.headers.get("location"), "http://example.com/a?b#c");
  assert_equals(r.body, null);
  assert_equals(r.statusText, "");
}, "Response.redirect() defaults to 302");

test(() => {
  for (const s of [301, 302, 303, 307, 308]) assert_equals(Response.redirect("http://example.com/", s).status, s);
}, "Response.redirect() accepts redirect statuses");

test(() => {
  for (const s of [200, 300, 304, 309, 400]) assert_throws_js(RangeError, () => Response.redirect("http://example.com/", s), String(s));
}, "Response.redirect() rejects other statuses with RangeError");

test(() => {
  assert_throws_js(TypeError, () => Response.redirect("http://[bad"));
}, "Response.redirect() with an invalid URL throws TypeError");

test(() => {
  const r = Response.redirect("http://example.com/a b");
  assert_equals(r.headers.get("location"), "http://example.com/a%20b");
}, "Response.redirect() serialises the parsed URL");

test(() => {
  const r = Response.redirect(new URL("http://example.com/x"));
  assert_equals(r.headers.get("location"), "http://example.com/x");
}, "Response.redirect() accepts a URL object");

promise_test(async () => {
  const r = Response.json({ a: 1 });
  assert_equals(r.status, 200);
  assert_equals(r.headers.get("content-type"), "application/json");
  assert_equals(await r.text(), '{"a":1}');
}, "Response.json() serialises and sets application/json");

promise_test(async () => {
  const r = Response.json([1], { status: 201, statusText: "OK", headers: { "content-type": "application/x+json", x: "1" } });
  assert_equals(r.status, 201);
  assert_equals(r.statusText, "OK");
  assert_equals(r.headers.get("content-type"), "application/x+json");
  assert_equals(r.headers.get("x"), "1");
}, "Response.json() keeps init and an explicit content type");

test(() => {
  assert_throws_js(TypeError, () => Response.json(undefined));
  assert_throws_js(TypeError, () => Response.json(() => 1));
  assert_throws_js(TypeError, () => Response.json(Symbol("x")));
}, "Response.json() of a value JSON cannot serialise throws TypeError");

test(() => {
  const cyclic = {};
  cyclic.self = cyclic;
  assert_throws_js(TypeError, () => Response.json(cyclic));
  assert_throws_js(TypeError, () => Response.json(1n));
}, "Response.json() lets JSON.stringify's TypeError through");

test(() => {
  assert_throws_js(TypeError, () => Response.json({}, { status: 204 }));
  assert_throws_js(RangeError, () => Response.json({}, { status: 1000 }));
}, "Response.json() validates the status");

promise_test(async () => {
  assert_equals(await Response.json(null).text(), "null");
  assert_equals(await Response.json("x").text(), '"x"');
}, "Response.json() of null and strings");

test(() => {
  const h = new Headers({ a: "1" });
  const r = new Response(null, { headers: h });
  h.set("a", "2");
  assert_equals(r.headers.get("a"), "1");
}, "Init headers are copied");

test(() => {
  const r = new Response(null, {
    headers: [
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ],
  });
  assert_array_equals(new Response(null, { headers: r.headers }).headers.getSetCookie(), ["a=1", "b=2"]);
}, "Set-Cookie survives being passed between responses");

test(() => {
  assert_throws_js(TypeError, () => Response());
}, "Response cannot be called without new");

test(() => {
  assert_throws_js(TypeError, () => new Response(null, 1));
}, "A non-object init throws TypeError");

test(() => {
  const r = new Response(null, { status: 200, headers: undefined, statusText: undefined });
  assert_equals(r.statusText, "");
}, "Undefined init members take their defaults");

test(() => {
  for (const k of ["status", "ok", "statusText", "headers", "type", "url", "redirected", "body", "bodyUsed"]) {
    assert_true(k in Response.prototype, k);
    assert_false(Object.prototype.hasOwnProperty.call(new Response(), k), k);
  }
}, "Response attributes are prototype accessors");

test(() => {
  for (const m of ["arrayBuffer", "blob", "bytes", "formData", "json", "text", "clone"]) assert_equals(typeof Response.prototype[m], "function", m);
  for (const m of ["error", "redirect", "json"]) assert_equals(typeof Response[m], "function", m);
}, "Response methods");

promise_test(async () => {
  const r = new Response(new Blob(["blobby"]));
  assert_equals(await r.text(), "blobby");
}, "A Blob body reads back");

promise_test(async () => {
  const r = new Response(new DataView(new Uint8Array([7, 8]).buffer));
  assert_array_equals(await r.bytes(), [7, 8]);
}, "A DataView body reads back");

promise_test(async () => {
  const r = new Response("x");
  const p1 = r.text();
  assert_true(r.bodyUsed);
  assert_equals(await p1, "x");
}, "bodyUsed turns true as soon as a read starts");

promise_test(async (t) => {
  const r = new Response(
    new ReadableStream({
      start(c) {
        c.enqueue("not bytes");
        c.close();
      },
    }),
  );
  await promise_rejects_js(t, TypeError, r.text());
}, "A stream chunk that is not a Uint8Array rejects with TypeError");

promise_test(async (t) => {
  const r = new Response(
    new ReadableStream({
      pull(c) {
        c.error(new RangeError("boom"));
      },
    }),
  );
  await promise_rejects_js(t, RangeError, r.text());
}, "A stream error rejects the read");

promise_test(async () => {
  const r = new Response(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]));
  assert_equals(await r.text(), "a");
}, "text() strips a UTF-8 BOM");

promise_test(async () => {
  const r = new Response(new Uint8Array([0xff, 0x61]));
  assert_equals(await r.text(), "\ufffda");
}, "text() replaces invalid UTF-8");

promise_test(async () => {
  const r = new Response("abcdef");
  const reader = r.body.getReader({ mode: "byob" });
  const first = await reader.read(new Uint8Array(4));
  assert_equals(new TextDecoder().decode(first.value), "abcd");
  const second = await reader.read(new Uint8Array(4));
  assert_equals(new TextDecoder().decode(second.value), "ef");
  assert_true((await reader.read(new Uint8Array(4))).done);
}, "A body can be read with a BYOB reader");

promise_test(async () => {
  const blob = new Blob(["shared"]);
  const r = new Response(blob);
  await r.body.getReader({ mode: "byob" }).read(new Uint8Array(2));
  assert_equals(await blob.text(), "shared");
}, "Reading a Blob body as a stream leaves the Blob intact");

promise_test(async () => {
  const r = new Response("abc");
  await r.body.cancel();
  assert_true(r.bodyUsed);
}, "Cancelling the body stream marks it used");

promise_test(async (t) => {
  const r = new Response("abc");
  const reader = r.body.getReader();
  await reader.read();
  reader.releaseLock();
  assert_true(r.bodyUsed);
  await promise_rejects_js(t, TypeError, r.text());
  assert_throws_js(TypeError, () => r.clone());
}, "A body partly read through a reader is used: reads reject, clone throws");

promise_test(async () => {
  const r = new Response("");
  const result = await r.body.getReader().read();
  assert_true(result.done);
}, "An empty body stream ends at once");

promise_test(async () => {
  const r = new Response();
  assert_equals(await r.text(), "");
  assert_equals((await new Response().arrayBuffer()).byteLength, 0);
  assert_equals((await new Response().blob()).size, 0);
  assert_equals((await new Response().bytes()).length, 0);
  assert_false(r.bodyUsed);
}, "Reading a Response without body gives empty results and leaves bodyUsed false");

promise_test(async (t) => {
  await promise_rejects_js(t, SyntaxError, new Response().json());
}, "json() of a Response without body rejects with SyntaxError");

promise_test(async () => {
  const fd = await new Response(null, { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData();
  assert_equals([...fd].length, 0);
}, "formData() of an empty urlencoded Response is empty");

promise_test(async () => {
  const r = new Response("x");
  const c = r.clone();
  await r.text();
  assert_false(c.bodyUsed);
  assert_equals(await c.text(), "x");
}, "Reading the original leaves the clone unused");

promise_test(async () => {
  const r = Response.json({ "\u00e9": "\u2603" });
  assert_equals(await r.text(), '{"\u00e9":"\u2603"}');
  assert_equals((await Response.json({ a: 1 }).arrayBuffer()).byteLength, 7);
}, "Response.json() encodes as UTF-8");

test(() => {
  const r = new Response(null, { status: 299, statusText: "" });
  assert_equals(r.statusText, "");
  assert_equals(new Response(null, { status: 200, statusText: "OK" }).statusText, "OK");
}, "statusText is kept as given");

test(() => {
  const r = new Response(null, { status: 201 });
  for (const [k, v] of Object.entries({ status: 500, ok: false, statusText: "x", type: "error", url: "http://x/", redirected: true })) {
    try {
      r[k] = v;
    } catch {
      // strict code throws; either way the value must not change
    }
  }
  assert_equals(r.status, 201);
  assert_true(r.ok);
  assert_equals(r.statusText, "");
  assert_equals(r.type, "default");
  assert_equals(r.url, "");
  assert_false(r.redirected);
}, "Response attributes are read-only");

test(() => {
  const get = Object.getOwnPropertyDescriptor(Response.prototype, "status").get;
  assert_throws_js(TypeError, () => get.call({}));
}, "Response accessors check their receiver");
