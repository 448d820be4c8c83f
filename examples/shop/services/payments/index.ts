// A Hono app, written as it would be for Cloudflare Workers, running unchanged in Stratus.
import { Hono } from "hono";
import type { CloudEvent, SqlDatabase } from "stratus";

type Bindings = { DB: SqlDatabase };
const app = new Hono<{ Bindings: Bindings }>();

let ready: Promise<unknown> | null = null;
function migrate(db: SqlDatabase): Promise<unknown> {
  ready ??= db.batch([
    db.prepare(
      "CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL)",
    ),
    db.prepare("CREATE TABLE IF NOT EXISTS receipts (order_id TEXT PRIMARY KEY, amount INTEGER NOT NULL, currency TEXT NOT NULL, issued_at TEXT NOT NULL)"),
  ]);
  return ready;
}
app.use("*", async (c, next) => {
  await migrate(c.env.DB);
  await next();
});

app.post("/payments", async (c) => {
  const body = await c.req.json<{ orderId?: string; amount?: number; currency?: string }>();
  if (!body.orderId || typeof body.amount !== "number" || body.amount <= 0 || !body.currency) {
    return c.json({ error: { message: "orderId, a positive amount and currency are required" } }, 400);
  }
  // Amounts over 100000 are declined, so the example can show a failed payment.
  const status = body.amount > 100_000 ? "declined" : "settled";
  const id = `pay_${crypto.randomUUID().slice(0, 8)}`;
  await c.env.DB.prepare("INSERT INTO payments (id, order_id, amount, currency, status) VALUES (?, ?, ?, ?, ?)")
    .bind(id, body.orderId, body.amount, body.currency, status)
    .run();
  return c.json({ id, status }, status === "settled" ? 201 : 402);
});

app.get("/payments/receipts/:orderId", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM receipts WHERE order_id = ?").bind(c.req.param("orderId")).first();
  return row ? c.json(row) : c.json({ error: { message: "no receipt (yet) for this order" } }, 404);
});

app.get("/payments/:id", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM payments WHERE id = ?").bind(c.req.param("id")).first();
  return row ? c.json(row) : c.json({ error: { message: "no such payment" } }, 404);
});

type OrderCreated = { orderId: string; amount: number; currency: string; status: string };

export default {
  fetch: app.fetch,
  /** order.created: a receipt for every paid order (at least once, so the insert is idempotent). */
  async event(event: CloudEvent<OrderCreated>, env: Bindings): Promise<void> {
    await migrate(env.DB);
    const o = event.data;
    if (!o || o.status !== "paid") return;
    await env.DB.prepare("INSERT INTO receipts (order_id, amount, currency, issued_at) VALUES (?, ?, ?, ?) ON CONFLICT (order_id) DO NOTHING")
      .bind(o.orderId, o.amount, o.currency, new Date().toISOString())
      .run();
  },
};
