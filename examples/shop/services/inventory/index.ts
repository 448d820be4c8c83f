import type { CloudEvent, Context, KVNamespace, ScheduledController } from "stratus";

interface Env {
  STOCK: KVNamespace;
}

interface Item {
  sku: string;
  price: number;
  available: number;
}

const SEED: Item[] = [
  { sku: "tea", price: 450, available: 100 },
  { sku: "coffee", price: 900, available: 50 },
  { sku: "mug", price: 1200, available: 10 },
];

async function item(env: Env, sku: string): Promise<Item | null> {
  const stored = await env.STOCK.get<Item>(`item:${sku}`, "json");
  if (stored) return stored;
  const seed = SEED.find((s) => s.sku === sku);
  if (seed) await env.STOCK.put(`item:${sku}`, JSON.stringify(seed));
  return seed ?? null;
}

export default {
  async fetch(request: Request, env: Env, ctx: Context): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/reports/low-stock") {
      const report = await env.STOCK.get("report:low-stock", "json");
      return report ? Response.json(report) : Response.json({ error: { message: "no report yet; one is made every five minutes" } }, { status: 404 });
    }
    // Reached only through the orders service's binding: no gateway route points here.
    const reserve = /^\/inventory\/([^/]+)\/reserve$/.exec(url.pathname);
    if (reserve && request.method === "POST") {
      const sku = decodeURIComponent(reserve[1]!);
      const { quantity } = (await request.json()) as { quantity: number };
      const it = await item(env, sku);
      if (!it) return Response.json({ error: { message: `unknown sku "${sku}"` } }, { status: 404 });
      if (it.available < quantity) return Response.json({ error: { message: `only ${it.available} ${sku} left` } }, { status: 409 });
      it.available -= quantity;
      await env.STOCK.put(`item:${sku}`, JSON.stringify(it));
      return Response.json({ sku, price: it.price, available: it.available });
    }
    if (request.method === "PUT" && ctx.params.sku) {
      const body = (await request.json()) as Partial<Item>;
      if (typeof body.price !== "number" || typeof body.available !== "number") {
        return Response.json({ error: { message: 'send { "price": 450, "available": 10 }' } }, { status: 400 });
      }
      const it = { sku: ctx.params.sku, price: body.price, available: body.available };
      await env.STOCK.put(`item:${it.sku}`, JSON.stringify(it));
      return Response.json(it);
    }
    if (ctx.params.sku) {
      const it = await item(env, ctx.params.sku);
      const sold = Number((await env.STOCK.get(`sold:${ctx.params.sku}`)) ?? 0);
      return it ? Response.json({ ...it, sold }) : Response.json({ error: { message: `unknown sku "${ctx.params.sku}"` } }, { status: 404 });
    }
    const items = await Promise.all(SEED.map((s) => item(env, s.sku)));
    return Response.json({ items });
  },

  /** order.created: counts units sold per sku (an event seen twice is counted once). */
  async event(event: CloudEvent<{ sku: string; quantity: number; status: string }>, env: Env): Promise<void> {
    const o = event.data;
    if (!o || o.status !== "paid") return;
    if (await env.STOCK.get(`counted:${event.id}`)) return;
    const sold = Number((await env.STOCK.get(`sold:${o.sku}`)) ?? 0) + o.quantity;
    await env.STOCK.put(`sold:${o.sku}`, String(sold));
    await env.STOCK.put(`counted:${event.id}`, "1", { expirationTtl: 7 * 24 * 3600 });
  },

  /** Every five minutes: which items are running low. */
  async scheduled(controller: ScheduledController, env: Env): Promise<void> {
    const items = await Promise.all(SEED.map((s) => item(env, s.sku)));
    const low = items.filter((i): i is Item => i !== null && i.available < 20).map((i) => ({ sku: i.sku, available: i.available }));
    await env.STOCK.put("report:low-stock", JSON.stringify({ at: new Date(controller.scheduledTime).toISOString(), low }));
  },
};
