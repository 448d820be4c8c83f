// WHATWG URL: the URL class, its parser and its setters (https://url.spec.whatwg.org/).

// [input, base, expected href] for the basic parser.
const parses = [
  ["http://example.com/", undefined, "http://example.com/"],
  ["HTTP://EXAMPLE.COM/A", undefined, "http://example.com/A"],
  ["http://example.com", undefined, "http://example.com/"],
  ["http://example.com:80/", undefined, "http://example.com/"],
  ["https://example.com:443/x", undefined, "https://example.com/x"],
  ["https://example.com:8443/x", undefined, "https://example.com:8443/x"],
  ["ws://example.com:80/", undefined, "ws://example.com/"],
  ["http://example.com/a/./b/../c", undefined, "http://example.com/a/c"],
  ["http://example.com/a/%2e/b/%2E%2E/c", undefined, "http://example.com/a/c"],
  ["http://example.com/a b", undefined, "http://example.com/a%20b"],
  ["http://example.com/?a b", undefined, "http://example.com/?a%20b"],
  ["http://example.com/#a b", undefined, "http://example.com/#a%20b"],
  ["http://example.com/\u00e9", undefined, "http://example.com/%C3%A9"],
  ["  http://example.com/  ", undefined, "http://example.com/"],
  ["http://exa\tmple.com/\n", undefined, "http://example.com/"],
  ["http:\\\\example.com\\a\\b", undefined, "http://example.com/a/b"],
  ["http://user:pa ss@example.com/", undefined, "http://user:pa%20ss@example.com/"],
  ["http://@example.com/", undefined, "http://example.com/"],
  ["http://:@example.com/", undefined, "http://example.com/"],
  ["http://0x7f.1/", undefined, "http://127.0.0.1/"],
  ["http://2130706433/", undefined, "http://127.0.0.1/"],
  ["http://0177.0.0.1/", undefined, "http://127.0.0.1/"],
  ["http://[::1]/", undefined, "http://[::1]/"],
  ["http://[0:0:0:0:0:0:0:1]/", undefined, "http://[::1]/"],
  ["http://[1:0:0:2::3:0]/", undefined, "http://[1::2:0:0:3:0]/"],
  ["http://[::ffff:192.168.0.1]/", undefined, "http://[::ffff:c0a8:1]/"],
  ["http://EXAMPLE.com./", undefined, "http://example.com./"],
  ["http://ex%41mple.com/", undefined, "http://example.com/"],
  ["http://xn--nxasmq6b.com/", undefined, "http://xn--nxasmq6b.com/"],
  ["http://\u00e9xample.com/", undefined, "http://xn--xample-9ua.com/"],
  ["http://ＥＸＡＭＰＬＥ.com/", undefined, "http://example.com/"],
  ["http://faß.de/", undefined, "http://xn--fa-hia.de/"],
  ["file:///C:/a/b", undefined, "file:///C:/a/b"],
  ["file://localhost/etc/x", undefined, "file:///etc/x"],
  ["file:/etc/x", undefined, "file:///etc/x"],
  ["mailto:someone@example.com", undefined, "mailto:someone@example.com"],
  ["data:text/plain,a b", undefined, "data:text/plain,a b"],
  ["javascript:alert(1)", undefined, "javascript:alert(1)"],
  ["non-spec:/.//p", undefined, "non-spec:/.//p"],
  ["sc://ñ/", undefined, "sc://%C3%B1/"],
  ["sc://a b/", undefined, null],
  ["urn:isbn:0451450523", undefined, "urn:isbn:0451450523"],
  ["blob:https://example.com/uuid", undefined, "blob:https://example.com/uuid"],
  ["/path", "http://example.com/a/b", "http://example.com/path"],
  ["path", "http://example.com/a/b", "http://example.com/a/path"],
  ["../x", "http://example.com/a/b/c", "http://example.com/a/x"],
  ["?q", "http://example.com/a?x#y", "http://example.com/a?q"],
  ["#f", "http://example.com/a?x#y", "http://example.com/a?x#f"],
  ["//other.com/p", "https://example.com/a", "https://other.com/p"],
  ["", "http://example.com/a?x#y", "http://example.com/a?x"],
  ["http:foo", "http://example.com/a/b", "http://example.com/a/foo"],
  ["https:foo", "http://example.com/a/b", "https://foo/"],
  ["x", "file:///a/b", "file:///a/x"],
  ["http://", undefined, null],
  ["http://a b/", undefined, null],
  ["http://a<b/", undefined, null],
  ["http://[::1/", undefined, null],
  ["http://[1:2:3:4:5:6:7:8:9]/", undefined, null],
  ["http://example.com:99999/", undefined, null],
  ["http://example.com:8a/", undefined, null],
  ["http://256.0.0.1/", undefined, null],
  ["http://1.2.3.4.5/", undefined, null],
  ["http://0x100000000/", undefined, null],
  ["relative", undefined, null],
  ["//example.com", undefined, null],
  ["http://%00/", undefined, null],
  ["a", "mailto:x", null],
  ["http://example.com/", "not a url", null],
];

for (const [input, base, expected] of parses) {
  test(
    () => {
      if (expected === null) {
        assert_throws_js(TypeError, () => new URL(input, base));
        assert_false(URL.canParse(input, base), "canParse");
      } else {
        const url = base === undefined ? new URL(input) : new URL(input, base);
        assert_equals(url.href, expected);
        assert_true(URL.canParse(input, base), "canParse");
      }
    },
    `parse ${JSON.stringify(input)}${base === undefined ? "" : ` against ${JSON.stringify(base)}`}`,
  );
}

test(() => {
  const u = new URL("https://user:pass@sub.example.com:8080/p/a/t/h?query=string#hash");
  assert_equals(u.protocol, "https:");
  assert_equals(u.username, "user");
  assert_equals(u.password, "pass");
  assert_equals(u.host, "sub.example.com:8080");
  assert_equals(u.hostname, "sub.example.com");
  assert_equals(u.port, "8080");
  assert_equals(u.pathname, "/p/a/t/h");
  assert_equals(u.search, "?query=string");
  assert_equals(u.hash, "#hash");
  assert_equals(u.origin, "https://sub.example.com:8080");
}, "components of a full URL");

test(() => {
  assert_equals(new URL("blob:https://example.com:1/x").origin, "https://example.com:1");
  assert_equals(new URL("data:text/plain,x").origin, "null");
  assert_equals(new URL("file:///x").origin, "null");
  assert_equals(new URL("sc://host/").origin, "null");
}, "origin of blob:, data:, file: and non-special URLs");

test(() => {
  const u = new URL("http://example.com/?#");
  assert_equals(u.search, "");
  assert_equals(u.hash, "");
  assert_equals(u.href, "http://example.com/?#");
}, "an empty query and fragment are kept in href but read as empty");

test(() => {
  const u = new URL("http://example.com/");
  u.protocol = "https";
  assert_equals(u.href, "https://example.com/");
  u.protocol = "ftp:";
  assert_equals(u.protocol, "ftp:");
  u.protocol = "mailto";
  assert_equals(u.protocol, "ftp:", "a special scheme cannot become non-special");
}, "protocol setter");

test(() => {
  const u = new URL("http://example.com/");
  u.username = "a b";
  u.password = "c@d";
  assert_equals(u.href, "http://a%20b:c%40d@example.com/");
  u.username = "";
  u.password = "";
  assert_equals(u.href, "http://example.com/");
}, "username and password setters percent-encode");

test(() => {
  const u = new URL("http://example.com:81/");
  u.host = "other.org:82";
  assert_equals(u.href, "http://other.org:82/");
  u.hostname = "third.net";
  assert_equals(u.host, "third.net:82");
  u.port = "80";
  assert_equals(u.port, "");
  u.port = "12ab";
  assert_equals(u.port, "12");
  u.port = "";
  assert_equals(u.href, "http://third.net/");
}, "host, hostname and port setters");

test(() => {
  const u = new URL("http://example.com/");
  u.pathname = "a b/c";
  assert_equals(u.pathname, "/a%20b/c");
  u.search = "x=1&y=2";
  assert_equals(u.search, "?x=1&y=2");
  u.hash = "frag ment";
  assert_equals(u.hash, "#frag%20ment");
  u.search = "";
  u.hash = "";
  assert_equals(u.href, "http://example.com/a%20b/c");
}, "pathname, search and hash setters");

test(() => {
  const u = new URL("http://example.com/a?b#c");
  u.href = "https://other.com/x";
  assert_equals(u.host, "other.com");
  assert_throws_js(TypeError, () => {
    u.href = "not a url";
  });
  assert_equals(u.href, "https://other.com/x");
}, "href setter parses, and throws TypeError on failure");

test(() => {
  const u = new URL("http://example.com/?a=1");
  const sp = u.searchParams;
  assert_equals(u.searchParams, sp, "same object each time");
  sp.append("b", "2 3");
  assert_equals(u.search, "?a=1&b=2+3");
  u.search = "?c=4";
  assert_equals(sp.get("c"), "4");
  assert_equals(sp.get("a"), null);
}, "searchParams is live in both directions");

test(() => {
  const u = new URL("http://example.com/?a=1");
  u.searchParams.delete("a");
  assert_equals(u.href, "http://example.com/");
}, "emptying searchParams removes the ?");

test(() => {
  const u = new URL("http://example.com/x");
  assert_equals(u.toString(), u.href);
  assert_equals(u.toJSON(), u.href);
  assert_equals(JSON.stringify({ u }), '{"u":"http://example.com/x"}');
  assert_equals(String(u), "http://example.com/x");
}, "toString, toJSON and stringification");

test(() => {
  assert_equals(URL.parse("http://example.com/").href, "http://example.com/");
  assert_equals(URL.parse("nope"), null);
  assert_equals(URL.parse("/x", "http://example.com").href, "http://example.com/x");
}, "URL.parse");

test(() => {
  assert_throws_js(TypeError, () => new URL());
  assert_throws_js(TypeError, () => URL("http://example.com/"));
}, "URL needs an argument and new");

test(() => {
  const base = new URL("http://example.com/dir/");
  assert_equals(new URL("x", base).href, "http://example.com/dir/x");
}, "a URL object as base");

test(() => {
  assert_class_string(new URL("http://example.com/"), "URL");
  assert_class_string(URL.prototype, "URL");
}, "class string of URL");

test(() => {
  const d = Object.getOwnPropertyDescriptor(URL.prototype, "href");
  assert_equals(typeof d.get, "function");
  assert_equals(typeof d.set, "function");
  assert_true(d.enumerable);
  assert_throws_js(TypeError, () => d.get.call({}));
}, "href is an accessor on the prototype that checks its receiver");

test(() => {
  const u = new URL("http://example.com/%7Efoo/%41");
  assert_equals(u.pathname, "/%7Efoo/%41", "percent-escapes are not decoded");
}, "percent-encoded bytes in the path are kept as written");

test(() => {
  const u = new URL("http://example.com/?q='\"<>`");
  assert_equals(u.search, "?q=%27%22%3C%3E`");
}, "special-query percent-encode set");

test(() => {
  const u = new URL("sc://example.com/?q='");
  assert_equals(u.search, "?q='");
}, "non-special query keeps the apostrophe");

test(() => {
  const u = new URL('http://example.com/#"<>`');
  assert_equals(u.hash, "#%22%3C%3E%60");
}, "fragment percent-encode set");

test(() => {
  const u = new URL("non-spec:opaque path");
  assert_equals(u.pathname, "opaque path");
  u.pathname = "changed";
  assert_equals(u.pathname, "opaque path", "an opaque path cannot be set");
}, "opaque paths");

test(() => {
  const u = new URL("http://[::1]:8080/");
  assert_equals(u.hostname, "[::1]");
  assert_equals(u.host, "[::1]:8080");
}, "IPv6 hostnames keep their brackets");
