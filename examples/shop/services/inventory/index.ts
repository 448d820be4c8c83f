import type { Context, KVNamespace } from "stratus";

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
      return it ? Response.json(it) : Response.json({ error: { message: `unknown sku "${ctx.params.sku}"` } }, { status: 404 });
    }
    const items = await Promise.all(SEED.map((s) => item(env, s.sku)));
    return Response.json({ items });
  },
};
