// An existing Workers-style app built on Hono (an npm dependency) runs unchanged in a Stratus service.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { tempStack, type TempStack } from "./helpers/stack.ts";

let s: TempStack;
before(async () => {
  s = await tempStack({
    "stratus.yaml": `name: h\nservices:\n  api:\n    entry: app.ts\n    routes: ["ANY /api/*"]\n    bindings: { KV: { kv: {} } }\n`,
    // Written exactly as for Cloudflare Workers: Hono, c.env bindings, middleware, JSON, params.
    "app.ts": `
import { Hono } from "hono";
import { cors } from "hono/cors";
import { HTTPException } from "hono/http-exception";

type Bindings = { KV: { get(k: string): Promise<string | null>; put(k: string, v: string): Promise<void> } };
const app = new Hono<{ Bindings: Bindings }>().basePath("/api");
app.use("*", cors());
app.use("*", async (c, next) => { await next(); c.header("x-powered-by", "hono-in-stratus"); });
app.get("/hello/:name", (c) => c.json({ hello: c.req.param("name"), q: c.req.query("q") ?? null }));
app.put("/notes/:id", async (c) => { const body = await c.req.json<{ text: string }>(); await c.env.KV.put(c.req.param("id"), body.text); return c.body(null, 204); });
app.get("/notes/:id", async (c) => { const t = await c.env.KV.get(c.req.param("id")); if (t === null) throw new HTTPException(404, { message: "no note" }); return c.text(t); });
app.notFound((c) => c.json({ error: "hono 404" }, 404));
export default app;
`,
  });
});
after(() => s?.close());

test("Hono routes, params, query, middleware and JSON", async () => {
  const res = await s.fetch("/api/hello/ada?q=x", { headers: { origin: "http://example.com" } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { hello: "ada", q: "x" });
  assert.equal(res.headers.get("x-powered-by"), "hono-in-stratus");
  assert.equal(res.headers.get("access-control-allow-origin"), "*");
});

test("Hono with c.env KV bindings, 204s and HTTPException", async () => {
  const put = await s.fetch("/api/notes/1", { method: "PUT", body: JSON.stringify({ text: "remember" }), headers: { "content-type": "application/json" } });
  assert.equal(put.status, 204);
  assert.equal(await (await s.fetch("/api/notes/1")).text(), "remember");
  const missing = await s.fetch("/api/notes/2");
  assert.equal(missing.status, 404);
  assert.equal(await missing.text(), "no note");
  const nf = await s.fetch("/api/elsewhere");
  assert.deepEqual(await nf.json(), { error: "hono 404" });
});
