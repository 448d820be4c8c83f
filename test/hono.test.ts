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
app.post("/form", async (c) => {
  const body = await c.req.parseBody();
  const file = body["upload"];
  return c.json({ name: body["name"], file: file instanceof File ? { name: file.name, type: file.type, size: file.size, text: await file.text() } : null });
});
app.get("/blob", () => new Response(new Blob(["a", new Uint8Array([98]), "c"], { type: "text/x-abc" })));
app.get("/form-out", async () => {
  const fd = new FormData();
  fd.append("x", "1");
  fd.append("f", new Blob(["file body"], { type: "text/plain" }), "f.txt");
  const back = await new Response(fd).formData();
  return Response.json({ x: back.get("x"), f: await (back.get("f") as File).text(), name: (back.get("f") as File).name });
});
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

test("forms: urlencoded and multipart bodies through Hono's parseBody, Blob bodies, FormData round trip", async () => {
  const urlencoded = await s.fetch("/api/form", { method: "POST", body: new URLSearchParams({ name: "ada" }) });
  assert.deepEqual(await urlencoded.json(), { name: "ada", file: null });
  const fd = new FormData();
  fd.append("name", "grace");
  fd.append("upload", new Blob(["hello file"], { type: "text/plain" }), "note.txt");
  const multipart = await s.fetch("/api/form", { method: "POST", body: fd });
  assert.deepEqual(await multipart.json(), { name: "grace", file: { name: "note.txt", type: "text/plain", size: 10, text: "hello file" } });
  const blob = await s.fetch("/api/blob");
  assert.equal(blob.headers.get("content-type"), "text/x-abc");
  assert.equal(await blob.text(), "abc");
  assert.deepEqual(await (await s.fetch("/api/form-out")).json(), { x: "1", f: "file body", name: "f.txt" });
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
