// Request conformance cases, written from the WHATWG Fetch standard (section "Request class").
// Plain script in the shape of WPT's testharness.js.

const U = "http://example.com/path?q=1";

test(() => {
  const r = new Request(U);
  assert_equals(r.url, U);
  assert_equals(r.method, "GET");
  assert_equals(r.destination, "");
  assert_equals(r.referrer, "about:client");
  assert_equals(r.referrerPolicy, "");
  assert_equals(r.mode, "cors");
  assert_equals(r.credentials, "same-origin");
  assert_equals(r.cache, "default");
  assert_equals(r.redirect, "follow");
  assert_equals(r.integrity, "");
  assert_false(r.keepalive);
  assert_false(r.isReloadNavigation);
  assert_false(r.isHistoryNavigation);
  assert_equals(r.duplex, "half");
  assert_equals(r.body, null);
  assert_false(r.bodyUsed);
  assert_class_string(r, "Request");
}, "Request defaults");

test(() => {
  assert_equals(new Request("http://example.com/a#frag").url, "http://example.com/a#frag");
  assert_equals(new Request("HTTP://EXAMPLE.com").url, "http://example.com/");
  assert_equals(new Request(new URL("http://example.com/x y")).url, "http://example.com/x%20y");
}, "The URL is parsed and serialised");

test(() => {
  assert_throws_js(TypeError, () => new Request("http://[::1"));
  assert_throws_js(TypeError, () => new Request("not a url"));
}, "An invalid URL throws TypeError");

test(() => {
  assert_throws_js(TypeError, () => new Request("http://user:pass@example.com/"));
  assert_throws_js(TypeError, () => new Request("http://user@example.com/"));
}, "A URL with credentials throws TypeError");

test(() => {
  assert_throws_js(TypeError, () => new Request());
}, "Request needs an input");

test(() => {
  assert_throws_js(TypeError, () => Request(U));
}, "Request cannot be called without new");

test(() => {
  for (const m of ["delete", "get", "head", "options", "post", "put"]) {
    assert_equals(new Request(U, { method: m }).method, m.toUpperCase(), m);
  }
}, "Standard methods are uppercased");

test(() => {
  assert_equals(new Request(U, { method: "patch" }).method, "patch");
  assert_equals(new Request(U, { method: "Custom" }).method, "Custom");
  assert_equals(new Request(U, { method: "PATCH" }).method, "PATCH");
}, "Other methods keep their case");

test(() => {
  for (const m of ["CONNECT", "connect", "TRACE", "trace", "TRACK", "Track"]) {
    assert_throws_js(TypeError, () => new Request(U, { method: m }), m);
  }
}, "Forbidden methods throw TypeError");

test(() => {
  for (const m of ["", "a b", "GET\n", "(x)", "\u00e9"]) assert_throws_js(TypeError, () => new Request(U, { method: m }), JSON.stringify(m));
}, "Methods that are not tokens throw TypeError");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { body: "x" }));
  assert_throws_js(TypeError, () => new Request(U, { method: "HEAD", body: "x" }));
}, "GET and HEAD requests cannot have a body");

test(() => {
  assert_equals(new Request(U, { body: null }).body, null);
  assert_equals(new Request(U, { method: "HEAD", body: undefined }).body, null);
}, "GET and HEAD accept a null body");

promise_test(async () => {
  const r = new Request(U, { method: "POST", body: "hello" });
  assert_equals(r.headers.get("content-type"), "text/plain;charset=UTF-8");
  assert_equals(await r.text(), "hello");
  assert_true(r.bodyUsed);
}, "A POST body reads back and sets its content type");

promise_test(async () => {
  const r = new Request(U, { method: "PUT", body: new Uint8Array([1, 2]) });
  assert_array_equals(await r.bytes(), [1, 2]);
  assert_false(r.headers.has("content-type"));
}, "A bytes body sets no content type");

promise_test(async () => {
  const r = new Request(U, { method: "POST", body: '{"a":1}', headers: { "content-type": "application/json" } });
  assert_equals(r.headers.get("content-type"), "application/json");
  assert_equals((await r.json()).a, 1);
}, "json() reads a request body");

promise_test(async () => {
  const r = new Request(U, { method: "POST", body: new URLSearchParams("x=1&y=2") });
  const fd = await r.formData();
  assert_equals(fd.get("y"), "2");
}, "formData() reads a urlencoded request");

test(() => {
  const s = new ReadableStream();
  assert_throws_js(TypeError, () => new Request(U, { method: "POST", body: s }));
}, "A stream body needs duplex");

test(() => {
  const s = new ReadableStream();
  const r = new Request(U, { method: "POST", body: s, duplex: "half" });
  assert_equals(r.body, s);
  assert_equals(r.duplex, "half");
}, "A stream body with duplex half");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { duplex: "full" }));
}, "duplex only accepts half");

test(() => {
  const s = new ReadableStream();
  assert_throws_js(TypeError, () => new Request(U, { method: "POST", body: s, duplex: "half", keepalive: true }));
}, "keepalive cannot carry a stream body");

test(() => {
  const r = new Request(U, {
    mode: "same-origin",
    credentials: "include",
    cache: "no-store",
    redirect: "manual",
    referrerPolicy: "no-referrer",
    integrity: "sha256-abc",
    keepalive: true,
  });
  assert_equals(r.mode, "same-origin");
  assert_equals(r.credentials, "include");
  assert_equals(r.cache, "no-store");
  assert_equals(r.redirect, "manual");
  assert_equals(r.referrerPolicy, "no-referrer");
  assert_equals(r.integrity, "sha256-abc");
  assert_true(r.keepalive);
}, "Init members are reflected");

test(() => {
  for (const [k, v] of [
    ["mode", "x"],
    ["credentials", "x"],
    ["cache", "x"],
    ["redirect", "x"],
    ["referrerPolicy", "x"],
  ]) {
    assert_throws_js(TypeError, () => new Request(U, { [k]: v }), k);
  }
}, "Invalid enum values throw TypeError");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { mode: "navigate" }));
}, "mode navigate throws TypeError");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { cache: "only-if-cached" }));
  assert_equals(new Request(U, { cache: "only-if-cached", mode: "same-origin" }).cache, "only-if-cached");
}, "only-if-cached needs same-origin mode");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { mode: "no-cors", method: "PUT" }));
  assert_equals(new Request(U, { mode: "no-cors", method: "POST" }).mode, "no-cors");
}, "no-cors allows only simple methods");

test(() => {
  for (const c of ["default", "no-store", "reload", "no-cache", "force-cache"]) assert_equals(new Request(U, { cache: c }).cache, c);
}, "All cache modes are accepted");

test(() => {
  assert_equals(new Request(U, { referrer: "" }).referrer, "");
  assert_equals(new Request(U, { referrer: "about:client" }).referrer, "about:client");
}, "Referrer empty and about:client");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { window: {} }));
  assert_equals(new Request(U, { window: null }).url, U);
}, "window must be null");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, 1));
}, "A non-object init throws TypeError");

test(() => {
  const r = new Request(U);
  assert_true(r.signal instanceof AbortSignal);
  assert_false(r.signal.aborted);
  assert_equals(r.signal, r.signal);
}, "signal is an AbortSignal that is not aborted");

test(() => {
  const c = new AbortController();
  const r = new Request(U, { signal: c.signal });
  assert_not_equals(r.signal, c.signal);
  assert_false(r.signal.aborted);
  c.abort();
  assert_true(r.signal.aborted);
}, "signal follows the init signal");

test(() => {
  const c = new AbortController();
  c.abort();
  assert_true(new Request(U, { signal: c.signal }).signal.aborted);
}, "signal of an already aborted init signal is aborted");

test(() => {
  assert_throws_js(TypeError, () => new Request(U, { signal: {} }));
  assert_throws_js(TypeError, () => new Request(U, { signal: "x" }));
  assert_false(new Request(U, { signal: null }).signal.aborted);
}, "init signal must be an AbortSignal or null");

test(() => {
  const c = new AbortController();
  const a = new Request(U, { signal: c.signal });
  const b = new Request(a);
  const d = a.clone();
  c.abort();
  assert_true(b.signal.aborted);
  assert_true(d.signal.aborted);
}, "Requests made from a Request follow its signal");

test(() => {
  const r = new Request(U, { headers: { a: "1" } });
  r.headers.append("b", "2");
  assert_equals(r.headers.get("b"), "2");
}, "Request headers are mutable");

test(() => {
  const a = new Request(U, { method: "POST", headers: { a: "1" }, redirect: "manual", mode: "same-origin", integrity: "x" });
  const b = new Request(a);
  assert_equals(b.url, U);
  assert_equals(b.method, "POST");
  assert_equals(b.headers.get("a"), "1");
  assert_equals(b.redirect, "manual");
  assert_equals(b.mode, "same-origin");
  assert_equals(b.integrity, "x");
}, "A Request made from a Request copies its fields");

test(() => {
  const a = new Request(U, { headers: { a: "1" } });
  const b = new Request(a, { headers: { b: "2" } });
  assert_false(b.headers.has("a"));
  assert_equals(b.headers.get("b"), "2");
}, "Init headers replace the input's");

test(() => {
  const a = new Request(U, { headers: { a: "1" } });
  const b = new Request(a);
  b.headers.set("a", "2");
  assert_equals(a.headers.get("a"), "1");
}, "Headers of a Request made from a Request are a copy");

test(() => {
  const a = new Request(U, { method: "POST" });
  const b = new Request(a, { method: "put" });
  assert_equals(b.method, "PUT");
}, "Init method overrides the input's");

promise_test(async () => {
  const a = new Request(U, { method: "POST", body: "data" });
  const b = new Request(a);
  assert_true(a.bodyUsed);
  assert_false(b.bodyUsed);
  assert_equals(await b.text(), "data");
}, "A Request made from a Request takes its body over");

promise_test(async () => {
  const a = new Request(U, { method: "POST", body: "data" });
  await a.text();
  assert_throws_js(TypeError, () => new Request(a));
}, "A Request cannot be made from one whose body was used");

promise_test(async () => {
  const a = new Request(U, { method: "POST", body: "old" });
  const b = new Request(a, { body: "new" });
  assert_equals(await b.text(), "new");
}, "An init body overrides the input's");

test(() => {
  const a = new Request(U, { method: "POST", body: "x" });
  assert_throws_js(TypeError, () => new Request(a, { method: "GET" }));
}, "Changing a Request with a body to GET throws");

promise_test(async () => {
  const a = new Request(U, { method: "POST", body: "abc", headers: { x: "1" }, cache: "reload" });
  const b = a.clone();
  assert_equals(b.method, "POST");
  assert_equals(b.cache, "reload");
  assert_equals(b.headers.get("x"), "1");
  assert_equals(await b.text(), "abc");
  assert_equals(await a.text(), "abc");
}, "clone() copies fields and body");

promise_test(async () => {
  const a = new Request(U, { method: "POST", body: "abc" });
  await a.text();
  assert_throws_js(TypeError, () => a.clone());
}, "clone() of a used Request throws TypeError");

test(() => {
  const a = new Request(U, { method: "POST", body: "abc" });
  a.body.getReader();
  assert_throws_js(TypeError, () => a.clone());
}, "clone() of a locked Request throws TypeError");

test(() => {
  const a = new Request(U, { headers: { a: "1" } });
  const b = a.clone();
  b.headers.set("a", "2");
  assert_equals(a.headers.get("a"), "1");
}, "A clone's headers are independent");

promise_test(async (t) => {
  const r = new Request(U, { method: "POST", body: "x" });
  await r.arrayBuffer();
  await promise_rejects_js(t, TypeError, r.text());
}, "Reading a used request body rejects");

promise_test(async () => {
  const r = new Request(U, { method: "POST", body: new Blob(["b"], { type: "text/x" }) });
  assert_equals(r.headers.get("content-type"), "text/x");
  const blob = await r.blob();
  assert_equals(blob.type, "text/x");
  assert_equals(await blob.text(), "b");
}, "A Blob request body keeps its type");

promise_test(async () => {
  const r = new Request(U);
  assert_equals(await r.text(), "");
  assert_equals((await new Request(U).arrayBuffer()).byteLength, 0);
}, "Reading a Request without body gives empty results");

test(() => {
  for (const k of ["url", "method", "headers", "signal", "body", "bodyUsed", "mode", "cache", "redirect", "credentials"]) {
    assert_true(k in Request.prototype, k);
    assert_false(Object.prototype.hasOwnProperty.call(new Request(U), k), k);
  }
}, "Request attributes are prototype accessors");

test(() => {
  for (const m of ["arrayBuffer", "blob", "bytes", "formData", "json", "text", "clone"]) assert_equals(typeof Request.prototype[m], "function", m);
}, "Request methods");

test(() => {
  const r = new Request(U, { method: "POST", body: "x", headers: { "content-type": "text/html" } });
  assert_equals(r.headers.get("content-type"), "text/html");
}, "An explicit content type wins over the body's");

test(() => {
  const fd = new FormData();
  fd.append("a", "b");
  const r = new Request(U, { method: "POST", body: fd });
  assert_regexp_match(r.headers.get("content-type"), /^multipart\/form-data; boundary=/);
}, "A FormData request body sets multipart with a boundary");

promise_test(async () => {
  const r = new Request(U, {
    method: "POST",
    body: new ReadableStream({
      start(c) {
        c.enqueue(new Uint8Array([65]));
        c.close();
      },
    }),
    duplex: "half",
  });
  assert_equals(await r.text(), "A");
}, "A stream request body reads back");

test(() => {
  const r = new Request(U, {
    method: "POST",
    body: "x",
    headers: [
      ["set-cookie", "a=1"],
      ["set-cookie", "b=2"],
    ],
  });
  assert_array_equals(new Request(r).headers.getSetCookie(), ["a=1", "b=2"]);
}, "Set-Cookie is not doubled when a Request is copied");

test(() => {
  const c = new AbortController();
  const r = new Request(U, { signal: c.signal });
  c.abort("why");
  assert_equals(r.signal.reason, "why");
}, "signal carries the init signal's abort reason");

test(() => {
  const r = new Request(U);
  const attempts = { method: "POST", url: "http://other.test/", mode: "navigate", cache: "reload", redirect: "manual", bodyUsed: true, duplex: "full" };
  for (const [k, v] of Object.entries(attempts)) {
    try {
      r[k] = v;
    } catch {
      // strict code throws; either way the value must not change
    }
  }
  assert_equals(r.method, "GET");
  assert_equals(r.url, U);
  assert_equals(r.mode, "cors");
  assert_equals(r.cache, "default");
  assert_equals(r.redirect, "follow");
  assert_false(r.bodyUsed);
  assert_equals(r.duplex, "half");
}, "Request attributes are read-only");

test(() => {
  const r = new Request(U);
  const h = r.headers;
  try {
    r.headers = new Headers({ a: "1" });
  } catch {
    // read-only
  }
  assert_equals(r.headers, h);
  assert_false(r.headers.has("a"));
}, "Request headers cannot be replaced");
