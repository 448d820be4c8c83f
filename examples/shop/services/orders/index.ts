import type { CloudEvent, Context, Fetcher, KVNamespace, Publisher, SqlDatabase } from "stratus";

interface Env {
  DB: SqlDatabase;
  IDEMPOTENCY: KVNamespace;
  INVENTORY: Fetcher;
  PAYMENTS: Fetcher;
  EVENTS: Publisher;
  CURRENCY: string;
}

interface Order {
  id: string;
  sku: string;
  quantity: number;
  amount: number;
  currency: string;
  status: string;
  payment_id: string | null;
  created_at: string;
}

let ready: Promise<unknown> | null = null;
function migrate(db: SqlDatabase): Promise<unknown> {
  ready ??= db.exec(
    "CREATE TABLE IF NOT EXISTS orders (id TEXT PRIMARY KEY, sku TEXT NOT NULL, quantity INTEGER NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL, payment_id TEXT, created_at TEXT NOT NULL)",
  );
  return ready;
}

function problem(status: number, message: string): Response {
  return Response.json({ error: { message } }, { status });
}

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    await migrate(env.DB);
    if (request.method === "GET" && ctx.params.id) {
      const order = await env.DB.prepare("SELECT * FROM orders WHERE id = ?").bind(ctx.params.id).first<Order>();
      return order ? Response.json(order) : problem(404, `no order ${ctx.params.id}`);
    }
    if (request.method === "GET") {
      const { results } = await env.DB.prepare("SELECT * FROM orders ORDER BY created_at DESC LIMIT 50").all<Order>();
      return Response.json({ orders: results });
    }

    const key = request.headers.get("idempotency-key");
    if (key) {
      const existing = await env.IDEMPOTENCY.get(key);
      if (existing) return Response.json(await env.DB.prepare("SELECT * FROM orders WHERE id = ?").bind(existing).first<Order>());
    }
    let input: { sku?: unknown; quantity?: unknown };
    try {
      input = (await request.json()) as typeof input;
    } catch {
      return problem(400, 'send JSON: { "sku": "tea", "quantity": 1 }');
    }
    if (typeof input.sku !== "string" || !Number.isInteger(input.quantity) || (input.quantity as number) < 1) {
      return problem(400, 'sku must be a string and quantity a positive integer, e.g. { "sku": "tea", "quantity": 1 }');
    }
    const quantity = input.quantity as number;

    const reserve = await env.INVENTORY.fetch(`https://inventory/inventory/${encodeURIComponent(input.sku)}/reserve`, {
      method: "POST",
      body: JSON.stringify({ quantity }),
    });
    if (!reserve.ok) return problem(409, ((await reserve.json()) as { error: { message: string } }).error.message);
    const { price } = (await reserve.json()) as { price: number };

    const id = crypto.randomUUID();
    const amount = price * quantity;
    const charge = await env.PAYMENTS.fetch("https://payments/payments", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ orderId: id, amount, currency: env.CURRENCY }),
    });
    const payment = (await charge.json()) as { id: string; status: string };
    const status = charge.ok ? "paid" : "payment_failed";
    await env.DB.prepare("INSERT INTO orders (id, sku, quantity, amount, currency, status, payment_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .bind(id, input.sku, quantity, amount, env.CURRENCY, status, payment.id ?? null, new Date().toISOString())
      .run();
    if (key) await env.IDEMPOTENCY.put(key, id, { expirationTtl: 24 * 3600 });
    // Durable before the 201: payments and inventory each get it at least once.
    await env.EVENTS.publish("order.created", { orderId: id, sku: input.sku, quantity, amount, currency: env.CURRENCY, status }, { key: id });
    console.log(`order ${id}: ${quantity} x ${input.sku} = ${amount} ${env.CURRENCY} (${status})`);
    const order = await env.DB.prepare("SELECT * FROM orders WHERE id = ?").bind(id).first<Order>();
    return Response.json(order, { status: 201, headers: { location: `/orders/${id}` } });
  },

  /** shipment.delivered, from the carrier: { orderId }. */
  async event(event: CloudEvent<{ orderId?: string }>, env: Env): Promise<void> {
    await migrate(env.DB);
    const orderId = event.data?.orderId;
    if (typeof orderId !== "string") throw Object.assign(new Error(`event ${event.id} has no data.orderId`), { permanent: true });
    const r = await env.DB.prepare("UPDATE orders SET status = 'delivered' WHERE id = ? AND status = 'paid'").bind(orderId).run();
    console.log(`shipment for order ${orderId} delivered (${r.meta.changes} updated)`);
  },
};
