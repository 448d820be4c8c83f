// A Hono app, written as it would be for Cloudflare Workers, running unchanged in Stratus.
import { Hono } from "hono";
import type { SqlDatabase } from "stratus";

type Bindings = { DB: SqlDatabase };
const app = new Hono<{ Bindings: Bindings }>();

let ready: Promise<unknown> | null = null;
app.use("*", async (c, next) => {
  ready ??= c.env.DB.exec(
    "CREATE TABLE IF NOT EXISTS payments (id TEXT PRIMARY KEY, order_id TEXT NOT NULL, amount INTEGER NOT NULL, currency TEXT NOT NULL, status TEXT NOT NULL)",
  );
  await ready;
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

app.get("/payments/:id", async (c) => {
  const row = await c.env.DB.prepare("SELECT * FROM payments WHERE id = ?").bind(c.req.param("id")).first();
  return row ? c.json(row) : c.json({ error: { message: "no such payment" } }, 404);
});

export default app;
