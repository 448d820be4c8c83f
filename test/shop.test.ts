// The README's example shop, end to end: three services, service bindings, KV, SQL, a Hono app.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startStack, type TestStack } from "../src/testing/index.ts";

let shop: TestStack;
before(async () => {
  shop = await startStack(new URL("../examples/shop", import.meta.url).pathname);
});
after(() => shop?.close());

type Order = { id: string; sku: string; quantity: number; amount: number; currency: string; status: string; payment_id: string };

test("an order reserves stock, is paid through the payments service, and can be read back", async () => {
  const res = await shop.fetch("/orders", { method: "POST", body: JSON.stringify({ sku: "tea", quantity: 3 }) });
  assert.equal(res.status, 201);
  const order = (await res.json()) as Order;
  assert.equal(order.amount, 3 * 450);
  assert.equal(order.currency, "EUR");
  assert.equal(order.status, "paid");
  assert.equal(res.headers.get("location"), `/orders/${order.id}`);
  assert.deepEqual(await (await shop.fetch(`/orders/${order.id}`)).json(), order);
  const payment = (await (await shop.fetch(`/payments/${order.payment_id}`)).json()) as { order_id: string; status: string };
  assert.deepEqual([payment.order_id, payment.status], [order.id, "settled"]);
  const stock = (await (await shop.fetch("/inventory/tea")).json()) as { available: number };
  assert.equal(stock.available, 97);
});

test("the same Idempotency-Key returns the first order instead of a second one", async () => {
  const send = () => shop.fetch("/orders", { method: "POST", headers: { "idempotency-key": "k-1" }, body: JSON.stringify({ sku: "coffee", quantity: 1 }) });
  const first = (await (await send()).json()) as Order;
  const again = (await (await send()).json()) as Order;
  assert.equal(again.id, first.id);
  const { orders } = (await (await shop.fetch("/orders")).json()) as { orders: Order[] };
  assert.equal(orders.filter((o) => o.sku === "coffee").length, 1);
});

test("bad orders get clear 4xx answers", async () => {
  const bad = await shop.fetch("/orders", { method: "POST", body: "not json" });
  assert.equal(bad.status, 400);
  const none = await shop.fetch("/orders", { method: "POST", body: JSON.stringify({ sku: "mug", quantity: 500 }) });
  assert.equal(none.status, 409);
  assert.match(((await none.json()) as { error: { message: string } }).error.message, /only 10 mug left/);
  assert.equal((await shop.fetch("/orders/nope")).status, 404);
});

test("events: an order reaches payments (receipt) and inventory (units sold); a carrier's CloudEvent marks it delivered", async () => {
  const res = await shop.fetch("/orders", { method: "POST", body: JSON.stringify({ sku: "coffee", quantity: 2 }) });
  const order = (await res.json()) as Order;
  await shop.host.events.drain();
  const receipt = (await (await shop.fetch(`/payments/receipts/${order.id}`)).json()) as { amount: number };
  assert.equal(receipt.amount, order.amount);
  const coffee = (await (await shop.fetch("/inventory/coffee")).json()) as { sold: number };
  assert.ok(coffee.sold >= 2);
  const delivered = await shop.fetch("/_stratus/events", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": `ship-${order.id}`,
      "ce-source": "/carrier",
      "ce-type": "shipment.delivered",
    },
    body: JSON.stringify({ orderId: order.id }),
  });
  assert.equal(delivered.status, 202);
  await shop.host.events.drain();
  assert.equal(((await (await shop.fetch(`/orders/${order.id}`)).json()) as Order).status, "delivered");
});

test("Prefer: respond-async on POST /orders: 202 now, the order's 201 later at the status URL", async () => {
  const res = await shop.fetch("/orders", { method: "POST", headers: { prefer: "respond-async" }, body: JSON.stringify({ sku: "tea", quantity: 1 }) });
  assert.equal(res.status, 202);
  const { statusUrl } = (await res.json()) as { statusUrl: string };
  await shop.host.events.drain();
  const status = (await (await shop.fetch(statusUrl)).json()) as { state: string; result: { status: number; body: string } };
  assert.equal(status.state, "completed");
  assert.equal(status.result.status, 201);
  assert.equal((JSON.parse(status.result.body) as Order).sku, "tea");
});
