import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { parseStack, stackJsonSchema, parseDuration, parseSize } from "./index.ts";

const FILE = new URL("../../package.json", import.meta.url).pathname.replace("package.json", "stratus.yaml");
// package.json exists in the repo root: entries below point at it so existence checks pass.
const ENTRY = "package.json";

function errorOf(text: string): { code: string; message: string } {
  try {
    parseStack(text, FILE);
  } catch (e) {
    return e as { code: string; message: string };
  }
  assert.fail("expected an error");
}

const PRODUCT = new URL("../../../shared/PRODUCT.md", import.meta.url);

test(
  "the contract fixture is the stack file example of PRODUCT.md",
  { skip: existsSync(PRODUCT) ? false : "../shared/PRODUCT.md is not beside this checkout" },
  () => {
    const product = readFileSync(PRODUCT, "utf8");
    assert.equal(/```yaml\n([\s\S]*?)```/.exec(product)?.[1], readFileSync(new URL("../../test/fixtures/product-stack.yaml", import.meta.url), "utf8"));
  },
);

test("the stack file shape from PRODUCT.md validates (public contract)", () => {
  const yaml = readFileSync(new URL("../../test/fixtures/product-stack.yaml", import.meta.url), "utf8");
  const text = yaml.replaceAll("services/orders/index.ts", ENTRY).replaceAll("services/payments/index.ts", ENTRY);
  // The example declares payment.settled as an ingest topic, so it validates as written.
  const stack = parseStack(text, FILE);
  assert.equal(stack.topics.find((t) => t.name === "payment.settled")?.ingest, true);
  // Without that topics: line, the subscription names the one thing to add.
  const e = errorOf(text.replace(/^topics:\n.*\n/m, ""));
  assert.equal(e.code, "STRATUS_E_CONFIG_INVALID");
  assert.equal(e.message.split("\n").length, 1, e.message);
  assert.match(e.message, /services\.orders\.subscribe\.payment\.settled: no topic "payment\.settled" in this stack; declare it under topics:/);
  const orders = stack.services.find((s) => s.name === "orders")!;
  assert.deepEqual(
    orders.routes.map((r) => r.raw),
    ["POST /orders", "GET /orders/:id"],
  );
  assert.deepEqual(orders.bindings["PAYMENTS"], { kind: "service", service: "payments" });
  assert.deepEqual(orders.bindings["SHIPPING_API"], { kind: "egress", hosts: ["api.shipping.example"] });
  assert.equal(orders.scale.idleTimeoutMs, 30_000);
  assert.equal(orders.limits.timeoutMs, 10_000);
  assert.equal(orders.vars["CURRENCY"], "EUR");
  assert.deepEqual(orders.bindings["EVENTS"], { kind: "publish", topics: ["order.created"] });
  assert.deepEqual(orders.subscriptions[0], {
    name: "orders:payment.settled",
    service: "orders",
    topic: "payment.settled",
    maxAttempts: 5,
    backoff: { initialMs: 1000, maxMs: 300_000 },
    deadLetter: true,
    ordering: "none",
    maxConcurrency: 64,
    startAt: "latest",
  });
  assert.deepEqual(orders.schedules, [{ id: "orders#0", service: "orders", cron: "*/5 * * * *", timezone: null }]);
  assert.deepEqual(orders.bindings["STRIPE_KEY"], { kind: "secret", secret: "STRIPE_KEY" });
  assert.ok(Object.isFrozen(stack) && Object.isFrozen(orders.routes));
});

test("malformed YAML names the line", () => {
  const e = errorOf("name: shop\nservices: [\n");
  assert.equal(e.code, "STRATUS_E_CONFIG_PARSE");
  assert.match(e.message, /stratus\.yaml:\d+:\d+: not valid YAML/);
});

test("a bad route names the file, line, path, value and the fix", () => {
  const e = errorOf(`name: shop\nservices:\n  orders:\n    entry: ${ENTRY}\n    routes: ["GET /a", "FETCH /orders"]\n`);
  assert.equal(e.code, "STRATUS_E_CONFIG_INVALID");
  assert.match(e.message, /stratus\.yaml:5:\d+: services\.orders\.routes\[1\]: "FETCH \/orders" is not valid: a route is "METHOD \/path"/);
});

test("route conflicts between services are errors naming both", () => {
  const e = errorOf(
    `name: shop\nservices:\n  orders:\n    entry: ${ENTRY}\n    routes: ["GET /orders/:id"]\n  audit:\n    entry: ${ENTRY}\n    routes: ["ANY /orders/:key"]\n`,
  );
  assert.equal(e.code, "STRATUS_E_ROUTE_CONFLICT");
  assert.match(e.message, /services\.audit\.routes\[0\]: "ANY \/orders\/:key" is also routed to service "orders" \(as "GET \/orders\/:id"/);
  assert.match(e.message, /give one of them another path/);
});

test("static and param routes at the same place do not conflict", () => {
  parseStack(`name: shop\nservices:\n  a:\n    entry: ${ENTRY}\n    routes: ["GET /orders/new", "GET /orders/:id", "POST /orders/:id"]\n`, FILE);
});

test("binding errors: unknown service, wrong shape, bad name", () => {
  assert.match(
    errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    bindings: { P: { service: nope } }\n`).message,
    /services\.a\.bindings\.P: service "nope" is not in this stack; use one of "a"/,
  );
  assert.match(
    errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    bindings: { P: { queue: x } }\n`).message,
    /services\.a\.bindings\.P: .* is not a binding; write exactly one of/,
  );
  assert.match(
    errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    bindings: { P: { service: 3 } }\n`).message,
    /services\.a\.bindings\.P\.service: 3 is not valid/,
  );
  assert.match(errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    bindings: { 1P: { kv: {} } }\n`).message, /JavaScript identifier/);
});

test("scale, limits, unknown fields and missing entries are errors with the fix", () => {
  assert.match(
    errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    scale: { min: 5, max: 2 }\n`).message,
    /services\.a\.scale\.min: 5 is more than scale\.max \(2\); lower min or raise max/,
  );
  assert.match(
    errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    scale: { concurrency: 0 }\n`).message,
    /services\.a\.scale\.concurrency: 0 is not valid/,
  );
  assert.match(errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    limits: { timeout: -1s }\n`).message, /services\.a\.limits\.timeout/);
});

test("scale and limits have documented maxima: a deploy can ask for no more than a worker can give", () => {
  const svc = (extra: string): string => `name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    ${extra}\n`;
  assert.match(errorOf(svc("scale: { min: 1000, max: 1000 }")).message, /services\.a\.scale\.min: 1000 is not valid: it must be at most 100/);
  assert.match(errorOf(svc("scale: { max: 100000 }")).message, /services\.a\.scale\.max: 100000 is not valid: it must be at most 1000/);
  assert.match(errorOf(svc("scale: { concurrency: 5000 }")).message, /services\.a\.scale\.concurrency: 5000 is not valid: it must be at most 1000/);
  assert.match(errorOf(svc("scale: { queue: 1000000 }")).message, /services\.a\.scale\.queue: 1000000 is not valid: it must be at most 10000/);
  assert.match(errorOf(svc("limits: { memory: 100000 }")).message, /services\.a\.limits\.memory: 100000 is not valid: it must be at most 4096/);
  assert.match(errorOf(svc("limits: { timeout: 2h }")).message, /services\.a\.limits\.timeout: "2h" is more than the most allowed \(15m\)/);
  assert.match(errorOf(svc("limits: { cpu: 3600000 }")).message, /services\.a\.limits\.cpu: 3600000 is more than the most allowed \(5m\)/);
  // The maxima themselves are accepted.
  const ok = parseStack(svc("scale: { min: 100, max: 1000, concurrency: 1000, queue: 10000 }\n    limits: { timeout: 15m, cpu: 5m }"), FILE);
  assert.equal(ok.services[0]!.limits.timeoutMs, 900_000);
  assert.match(errorOf(`name: s\nservices:\n  a:\n    entry: ${ENTRY}\n    rutes: []\n`).message, /services\.a: unknown field "rutes"/);
  assert.match(errorOf(`name: s\nservices:\n  a:\n    entry: nowhere.ts\n`).message, /services\.a\.entry: "nowhere\.ts" does not exist/);
  assert.match(errorOf(`services:\n  a:\n    entry: ${ENTRY}\n`).message, /name: is required/);
  assert.match(errorOf(`name: s\nservices: {}\n`).message, /at least one service/);
});

test("durations and sizes", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("1.5s"), 1500);
  assert.equal(parseDuration("2m"), 120_000);
  assert.equal(parseSize("1mb"), 1048576);
  assert.equal(parseSize("512kb"), 524288);
});

test("the JSON Schema describes the stack file", () => {
  const schema = stackJsonSchema() as { properties: Record<string, unknown>; required: string[] };
  assert.ok(schema.properties["services"]);
  assert.deepEqual(schema.required.sort(), ["name", "services"]);
  const published = JSON.parse(readFileSync(new URL("../../docs/stratus.schema.json", import.meta.url), "utf8")) as unknown;
  assert.deepEqual(published, schema, "docs/stratus.schema.json is stale: run `node bin/stratus.js schema > docs/stratus.schema.json`");
});

test("events: unknown subscribed topics, bad cron, bad backoff, bad subscription options and reserved paths say what to fix", () => {
  const svc = (extra: string): string => `name: shop\ntopics:\n  order.created: {}\nservices:\n  a:\n    entry: ${ENTRY}\n${extra}`;
  const unknown = errorOf(svc("    subscribe:\n      order.craeted: {}\n"));
  assert.match(
    unknown.message,
    /stratus\.yaml:\d+:\d+: services\.a\.subscribe\.order\.craeted: no topic "order\.craeted" in this stack; .*known topics: "order\.created"/,
  );
  const cron = errorOf(svc('    schedules:\n      - cron: "61 * * * *"\n'));
  assert.match(cron.message, /services\.a\.schedules\[0\]: .* is not a valid schedule: .*write e\.g\. cron: "\*\/5 \* \* \* \*"/);
  const tz = errorOf(svc('    schedules:\n      - { cron: "0 * * * *", timezone: "Mars/Olympus" }\n'));
  assert.match(tz.message, /services\.a\.schedules\[0\]: .* is not a valid schedule/);
  const backoff = errorOf(svc("    subscribe:\n      order.created: { backoff: { initial: 1m, max: 1s } }\n"));
  assert.match(backoff.message, /backoff: initial \(60000 ms\) is more than max \(1000 ms\)/);
  const attempts = errorOf(svc("    subscribe:\n      order.created: { maxAttempts: 0, ordering: sorted }\n"));
  assert.match(attempts.message, /subscribe\.order\.created\.maxAttempts: 0 is not valid: it must be at least 1/);
  assert.match(attempts.message, /subscribe\.order\.created\.ordering: "sorted" is not valid: it must be one of "none", "key"/);
  const reserved = errorOf(svc('    routes: ["GET /_stratus/x"]\n'));
  assert.match(reserved.message, /"GET \/_stratus\/x" is under \/_stratus\/, which the gateway keeps/);
  const topic = errorOf(svc('    bindings:\n      EV: { publish: ["bad topic"] }\n'));
  assert.match(topic.message, /bindings\.EV\.publish\[0\]: "bad topic" is not valid: a topic is letters, digits/);
});

test("events: a publish grant creates its topic; an empty subscription takes the defaults", () => {
  const stack = parseStack(
    `name: shop\nservices:\n  a:\n    entry: ${ENTRY}\n    bindings:\n      EV: { publish: [x.y] }\n    subscribe:\n      x.y:\n    schedules:\n      - { cron: "0 9 * * 1-5", timezone: Europe/Berlin }\n`,
    FILE,
  );
  assert.deepEqual(stack.topics, [{ name: "x.y", ingest: false, retentionMs: 7 * 86_400_000 }]);
  assert.equal(stack.services[0]!.subscriptions[0]!.maxAttempts, 5);
  assert.equal(stack.services[0]!.schedules[0]!.timezone, "Europe/Berlin");
});
