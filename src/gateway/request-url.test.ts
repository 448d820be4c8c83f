import assert from "node:assert/strict";
import { test } from "node:test";
import fc from "fast-check";
import { requestUrl } from "./gateway.ts";

test("for any request target and Host: refused, or the URL's host is the Host and its path is the path routed", () => {
  const target = fc.oneof(
    fc.string({ maxLength: 40 }).map((s) => `/${s}`),
    fc
      .array(fc.constantFrom("a", "..", ".", "%2e", "%2E%2e", "\\", "/", "#", "?", "%", "%zz", "é", "b.c", "~", "@", ":"), { maxLength: 10 })
      .map((p) => `/${p.join("")}`),
    fc
      .tuple(fc.constantFrom("http://", "https://", "HTTP://", "ftp://", "//"), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }))
      .map(([s, h, p]) => `${s}${h}/${p}`),
    fc.string({ maxLength: 20 }),
  );
  const host = fc.oneof(
    fc.constant(undefined),
    fc.string({ maxLength: 30 }),
    fc.constantFrom("evil/x?", "a@b", "a b", "a#b", "h:1", "h:99999", "[::1]:80", "[::1", "x".repeat(300), "EXAMPLE.com", "a..b", "-a"),
  );
  fc.assert(
    fc.property(target, host, (t, h) => {
      const r = requestUrl(t, h);
      if ("error" in r) {
        assert.ok(r.error.length > 0);
        return;
      }
      const u = new URL(r.url);
      assert.equal(u.pathname, r.path, `${t} / ${h}: ${r.url}`);
      assert.equal(u.hash, "", `${t}: a fragment reached the function`);
      assert.equal(u.username + u.password, "");
      if (!/^https?:\/\//i.test(t)) assert.equal(u.host, new URL(`http://${(h ?? "localhost").toLowerCase()}`).host);
    }),
    { numRuns: 3000 },
  );
});
