import assert from "node:assert/strict";
import { test } from "node:test";
import { Router } from "./index.ts";

const router = new Router([
  { service: "orders", method: "GET", path: "/orders/:id", raw: "GET /orders/:id" },
  { service: "orders", method: "POST", path: "/orders", raw: "POST /orders" },
  { service: "orders", method: "GET", path: "/orders/new", raw: "GET /orders/new" },
  { service: "hooks", method: "ANY", path: "/webhooks/*", raw: "ANY /webhooks/*" },
  { service: "files", method: "GET", path: "/files/*", raw: "GET /files/*" },
]);

test("path params are decoded and returned", () => {
  const m = router.match("GET", "/orders/a%20b");
  assert.equal(m.kind, "found");
  assert.ok(m.kind === "found");
  assert.equal(m.target.service, "orders");
  assert.deepEqual({ ...m.params }, { id: "a b" });
});

test("static segments win over params", () => {
  const m = router.match("GET", "/orders/new");
  assert.ok(m.kind === "found" && m.target.route === "GET /orders/new");
});

test("ANY matches every method; a trailing * matches the rest", () => {
  for (const method of ["GET", "POST", "DELETE", "PATCH"]) {
    const m = router.match(method, "/webhooks/stripe/events");
    assert.ok(m.kind === "found" && m.target.service === "hooks", method);
  }
  const f = router.match("GET", "/files/a/b/c.txt");
  assert.ok(f.kind === "found" && f.params["*"] === "a/b/c.txt");
});

test("a known path with the wrong method lists the allowed methods", () => {
  assert.deepEqual(router.match("DELETE", "/orders"), { kind: "method", allowed: ["POST"] });
  assert.deepEqual(router.match("GET", "/nowhere"), { kind: "none" });
});

test("HEAD falls back to GET", () => {
  const m = router.match("HEAD", "/orders/1");
  assert.ok(m.kind === "found" && m.target.service === "orders");
});
