// `stratus start` attacked through its own HTTP ports: every control API route fuzzed with
// arbitrary paths, methods, percent-encodings, headers and bodies (fast-check); hostile Host
// headers and request targets at the gateway; oversized stack files; secrets logged in encoded
// forms. Each hostile input gets a clear coded error, and the node keeps serving its neighbour.
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:net";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import fc from "fast-check";
import { ERROR_CODES } from "../src/errors/index.ts";
import { openapi } from "../src/node/index.ts";
import { digestOf } from "../src/registry/index.ts";
import { secretForms } from "../src/telemetry/index.ts";
import { startNode, type StartedNode } from "./helpers/node.ts";
import { tempProject, type TempProject } from "./helpers/project.ts";

const SECRET = 'tok-"sk_live\\51Hq/+Zé x';
let data: TempProject;
let node: StartedNode;
let admin: string;

/** One raw HTTP exchange: any method, path and headers Node's client lets through. */
function raw(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<{ status: number; type: string; text: string }> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    // A body always goes with its length: a body without one is another (malformed) request.
    const h = body === undefined ? headers : { ...headers, "content-length": String(Buffer.byteLength(body)) };
    const req = request({ host: u.hostname, port: u.port, method, path, headers: h }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, type: String(res.headers["content-type"] ?? ""), text: Buffer.concat(chunks).toString("utf8") }),
      );
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

/** Writes bytes to the gateway's socket as they are and reads the whole answer (Connection: close). */
function rawSocket(base: string, bytes: string): Promise<string> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const s = connect(Number(u.port), u.hostname);
    let text = "";
    s.on("data", (c: Buffer) => (text += c.toString("latin1")));
    s.on("end", () => resolve(text));
    s.on("error", reject);
    // Not end(): a half-closed socket may be dropped before a slower answer is written.
    s.write(bytes);
  });
}

/** The body of a raw HTTP/1.1 answer (chunked or not). */
function bodyOf(text: string): string {
  const i = text.indexOf("\r\n\r\n");
  const head = text.slice(0, i);
  let rest = text.slice(i + 4);
  if (!/transfer-encoding: chunked/i.test(head)) return Buffer.from(rest, "latin1").toString("utf8");
  let out = "";
  for (;;) {
    const nl = rest.indexOf("\r\n");
    const size = parseInt(rest.slice(0, nl), 16);
    if (!size) return Buffer.from(out, "latin1").toString("utf8");
    out += rest.slice(nl + 2, nl + 2 + size);
    rest = rest.slice(nl + 2 + size + 2);
  }
}

async function api(method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${node.control}${path}`, {
    method,
    headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A bundle as esbuild makes it: an IIFE that sets the module. */
const bundle = (body: string): string => `var __stratus_module = (() => ({ default: ${body} }))();`;

const ECHO = bundle(`{ fetch(r) { const u = new URL(r.url); return Response.json({ url: r.url, host: u.host, path: u.pathname }); } }`);
const LEAK = bundle(`{ fetch(r, env) {
  const k = env.KEY;
  const bytes = new TextEncoder().encode(k);
  let bin = ""; for (const b of bytes) bin += String.fromCharCode(b);
  const b64 = btoa(bin);
  const hex = [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
  console.log("raw", k);
  console.log("json", JSON.stringify({ k }));
  console.log("url", encodeURIComponent(k));
  console.log("b64", b64);
  console.log("b64url", b64.replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, ""));
  console.log("shifted", btoa("x" + bin));
  console.log("hex", hex, hex.toUpperCase());
  console.log(k.slice(0, 9), k.slice(9));
  console.warn(JSON.stringify(JSON.stringify(k)));
  return new Response("logged");
} }`);

// Passes its API key to a backend in the query string, the usual way (finding A8).
const CALLER = bundle(`{ async fetch(r, env) {
  const res = await env.ECHO.fetch("http://echo/echo/lookup?key=" + encodeURIComponent(env.KEY) + "&raw=" + env.KEY);
  return new Response("called " + res.status);
} }`);

before(async () => {
  data = tempProject({});
  node = await startNode(data.dir);
  admin = readFileSync(join(data.dir, "admin-token"), "utf8").trim();
  assert.equal((await api("PUT", "/v1/secrets/KEY", { value: SECRET })).status, 200);
  const yaml = `name: attack\nservices:\n  echo:\n    entry: echo.ts\n    routes: ["ANY /echo/*"]\n  leak:\n    entry: leak.ts\n    routes: ["GET /leak"]\n    bindings:\n      KEY: { secret: KEY }\n  caller:\n    entry: caller.ts\n    routes: ["GET /caller"]\n    bindings:\n      KEY: { secret: KEY }\n      ECHO: { service: echo }\n`;
  const bundles = [
    { service: "echo", code: ECHO, digest: digestOf(ECHO) },
    { service: "leak", code: LEAK, digest: digestOf(LEAK) },
    { service: "caller", code: CALLER, digest: digestOf(CALLER) },
  ];
  // Bundles as the CLI would upload them: already built (these are plain modules).
  const r = await api("POST", "/v1/apply", { yaml, bundles });
  assert.equal(r.status, 200, JSON.stringify(r.body));
});

after(async () => {
  await node.stop();
  data.remove();
});

/** The neighbour: the echo service and the control API still answer. */
async function neighbourAnswers(): Promise<void> {
  const res = await fetch(`${node.gateway}/echo/ok`);
  assert.equal(res.status, 200);
  assert.equal(((await res.json()) as { path: string }).path, "/echo/ok");
  assert.equal((await api("GET", "/v1/stack")).status, 200);
}

/** A reply of the control API: 2xx, or a JSON error whose code is known and whose status is the code's. */
function assertCoded(r: { status: number; type: string; text: string }, what: string, method: string): void {
  if (method === "HEAD") return;
  if (r.status < 400) return;
  assert.match(r.type, /application\/json/, `${what}: ${r.status} is not JSON: ${r.text.slice(0, 200)}`);
  const body = JSON.parse(r.text) as { error?: { code?: string; message?: string } };
  const code = body.error?.code ?? "";
  assert.ok(Object.hasOwn(ERROR_CODES, code), `${what}: unknown code ${code}`);
  assert.equal(ERROR_CODES[code as keyof typeof ERROR_CODES].status, r.status, `${what}: ${code} with status ${r.status}`);
  assert.ok(typeof body.error?.message === "string" && body.error.message.length > 0, `${what}: no message`);
  assert.notEqual(code, "STRATUS_E_INTERNAL", `${what}: an internal error: ${body.error?.message}`);
}

test("unauthenticated DELETE /v1/tokens/% is a 400 STRATUS_E_BAD_REQUEST, and the node keeps serving", async () => {
  for (const path of ["/v1/tokens/%", "/v1/tokens/%E0%A4%A", "/v1/secrets/%ff", "/v1/events/topics/%", "/v1/services/%C0/versions"]) {
    for (const method of ["DELETE", "GET", "POST", "PUT"]) {
      const r = await raw(node.control, method, path, {});
      assertCoded(r, `${method} ${path}`, method);
    }
  }
  const r = await raw(node.control, "DELETE", "/v1/tokens/%", {});
  assert.equal(r.status, 400);
  assert.equal((JSON.parse(r.text) as { error: { code: string } }).error.code, "STRATUS_E_BAD_REQUEST");
  await neighbourAnswers();
});

test("fuzzing every node API route (paths, methods, percent-encodings, queries, headers, bodies; with and without a token) never crashes it", async () => {
  const doc = openapi() as { paths: Record<string, Record<string, unknown>> };
  const templates = Object.keys(doc.paths);
  const segment = fc.oneof(
    fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)),
    fc.constantFrom("%", "%%", "%zz", "%C0%AF", "%E0%A4%A", "%00", "..", ".", "%2e%2e", "%2F", "a%20b", "~", "x".repeat(300)),
    fc.stringMatching(/^[A-Za-z0-9%._~!$&'()*+,;=:@-]{0,16}$/),
  );
  const path = fc.oneof(
    fc.tuple(fc.constantFrom(...templates), fc.array(segment, { minLength: 3, maxLength: 3 })).map(([t, segs]) => {
      let i = 0;
      return t.replace(/\{\w+\}/g, () => segs[i++] ?? "x");
    }),
    fc.array(segment, { maxLength: 6 }).map((segs) => `/${segs.join("/")}`),
    fc.constantFrom("/", "//", "/v1", "/v1/", "/v1//tokens", "/v1/tokens/", "/metrics/", "/v1/openapi.json/x"),
  );
  const query = fc.oneof(
    fc.constant(""),
    fc
      .dictionary(fc.constantFrom("limit", "since", "after", "service", "x", "%"), fc.string({ maxLength: 8 }))
      .map((q) => `?${new URLSearchParams(q).toString()}`),
    fc.constantFrom("?limit=-1", "?limit=1e309", "?after=end", "?since=NaN", "?%", "?a=%zz", "?limit=99999999999"),
  );
  const method = fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "PROPFIND");
  const auth = fc.constantFrom<"admin" | "none" | "garbage" | "malformed">("admin", "none", "garbage", "malformed");
  const body = fc.oneof(
    fc.constant(undefined),
    fc.json({ maxDepth: 3 }),
    fc.string({ maxLength: 40 }),
    fc.constantFrom(
      "{",
      "null",
      "[]",
      "1",
      '"x"',
      '{"yaml":1}',
      '{"bundles":[null]}',
      '{"bundles":"x","yaml":"name: x"}',
      '{"canary":{"percent":"x"}}',
      '{"value":{}}',
      '{"name":"x","role":"root"}',
      '{"ttl":-1,"name":"a","role":"reader"}',
      '{"from":{}}',
      '{"seqs":[1.5]}',
      '{"data":1,"key":{}}',
    ),
    fc
      .record({
        yaml: fc.string({ maxLength: 60 }),
        bundles: fc.array(fc.record({ service: fc.string(), digest: fc.string(), code: fc.string() }), { maxLength: 2 }),
      })
      .map((o) => JSON.stringify(o)),
  );
  const contentType = fc.constantFrom("application/json", "text/plain", "application/x-www-form-urlencoded", "");
  let runs = 0;
  await fc.assert(
    fc.asyncProperty(path, query, method, auth, body, contentType, async (p, q, m, a, b, ct) => {
      runs++;
      const headers: Record<string, string> = {};
      if (a === "admin") headers["authorization"] = `Bearer ${admin}`;
      if (a === "garbage") headers["authorization"] = "Bearer stx_00000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
      if (a === "malformed") headers["authorization"] = "Basic Zm9vOmJhcg==";
      if (ct) headers["content-type"] = ct;
      // Destroying or revoking what the neighbour check needs is not the point here.
      if (a === "admin" && m === "DELETE" && (p === "/v1/stack" || p.startsWith("/v1/secrets/KEY"))) return;
      if (a === "admin" && m === "POST" && (p === "/v1/apply" || p.startsWith("/v1/services/"))) return;
      const payload = b === undefined ? undefined : typeof b === "string" ? b : JSON.stringify(b);
      const r = await raw(node.control, m, `${p}${q}`, headers, payload);
      assertCoded(r, `${m} ${p}${q} (${a})`, m);
    }),
    { numRuns: 400, seed: Number(process.env["FC_SEED"] ?? Date.now() % 2 ** 31) },
  );
  assert.equal(runs >= 400, true);
  await neighbourAnswers();
});

test("bodies that are not objects, and bodies over an endpoint's limit, are refused with a code", async () => {
  const headers = { authorization: `Bearer ${admin}`, "content-type": "application/json" };
  for (const b of ["null", "[]", "42", '"yaml"']) {
    const r = await raw(node.control, "POST", "/v1/plan", headers, b);
    assert.equal(r.status, 400, b);
    assert.match(r.text, /must be a JSON object/);
  }
  const big = await raw(node.control, "PUT", "/v1/secrets/BIG", headers, JSON.stringify({ value: "x".repeat(2 * 1024 * 1024) }));
  assert.equal(big.status, 413);
  assert.equal((JSON.parse(big.text) as { error: { code: string } }).error.code, "STRATUS_E_BODY_TOO_LARGE");
  await neighbourAnswers();
});

test("a 100,000-service stack file is refused as too large; so are too many routes; the gateway and the API keep answering", { timeout: 120_000 }, async () => {
  let yaml = "name: huge\nservices:\n";
  for (let i = 0; i < 100_000; i++) yaml += `  s${i}:\n    entry: s.ts\n`;
  const huge = await api("POST", "/v1/plan", { yaml, bundles: [] });
  assert.equal(huge.status, 413);
  assert.equal((huge.body["error"] as { code: string }).code, "STRATUS_E_STACK_TOO_LARGE");
  assert.match((huge.body["error"] as { message: string }).message, /over the limit of 1048576/);
  let many = "name: many\nservices:\n";
  for (let i = 0; i < 201; i++) many += `  s${i}:\n    entry: s.ts\n`;
  const services = await api("POST", "/v1/plan", { yaml: many, bundles: [] });
  assert.equal(services.status, 413);
  assert.match((services.body["error"] as { message: string }).message, /201 services, over the limit of 200/);
  const routes = `name: r\nservices:\n  a:\n    entry: a.ts\n    routes: [${Array.from({ length: 201 }, (_, i) => `"GET /r${i}"`).join(", ")}]\n`;
  const tooManyRoutes = await api("POST", "/v1/plan", { yaml: routes, bundles: [] });
  assert.equal(tooManyRoutes.status, 413);
  assert.match((tooManyRoutes.body["error"] as { message: string }).message, /201 routes in service "a", over the limit of 200/);
  // While a large (allowed) stack is validated, the gateway answers its neighbour.
  let allowed = "name: attack\nservices:\n";
  for (let i = 0; i < 200; i++) allowed += `  s${i}:\n    entry: s.ts\n    routes: ["GET /s${i}/*"]\n`;
  const [plan] = await Promise.all([api("POST", "/v1/plan", { yaml: allowed, bundles: [] }), neighbourAnswers()]);
  assert.equal(plan.status, 400, JSON.stringify(plan.body));
  assert.match((plan.body["error"] as { message: string }).message, /no bundle was sent for service "s0"/);
  await neighbourAnswers();
});

test("the function sees the URL the gateway routed: hostile Host headers are refused, absolute-form and dot segments are normalised once", async () => {
  for (const host of ["evil/x?", "a@b", "a b", "a#b", "x".repeat(300), "h:99999", "[::1", "évil"]) {
    const text = await rawSocket(node.gateway, `GET /echo/a HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 400 /, `Host ${JSON.stringify(host)}: ${text.slice(0, 80)}`);
    assert.match(text, /STRATUS_E_BAD_REQUEST/);
    assert.doesNotMatch(text, /"path"/, "the function must not have run");
  }
  const seen = async (target: string, host = "app.example:8080"): Promise<{ url: string; host: string; path: string }> => {
    const text = await rawSocket(node.gateway, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 200 /, `${target}: ${text.slice(0, 200)}`);
    return JSON.parse(bodyOf(text)) as { url: string; host: string; path: string };
  };
  assert.deepEqual(await seen("/echo/a?b=1"), { url: "http://app.example:8080/echo/a?b=1", host: "app.example:8080", path: "/echo/a" });
  assert.equal((await seen("http://other.example/echo/abs?q")).url, "http://other.example/echo/abs?q");
  assert.equal((await seen("/leak/../echo/x")).path, "/echo/x");
  assert.equal((await seen("/echo/%2e%2e/echo/y")).path, "/echo/y");
  assert.equal((await seen("/leak/.%2E/echo/z")).path, "/echo/z");
  const refused = await rawSocket(node.gateway, `GET http://u:p@h/echo/a HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
  assert.match(refused, /^HTTP\/1\.1 400 [\s\S]*STRATUS_E_BAD_REQUEST/);
  // A dot segment cannot reach a route the path does not name.
  const escape = await rawSocket(node.gateway, `GET /echo/../leak HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
  assert.match(escape, /^HTTP\/1\.1 200 /);
  assert.match(escape, /logged/, "routed as /leak, and the function saw /leak");
  await neighbourAnswers();
});

test("a secret logged in encoded forms (JSON-escaped, URL-encoded, base64, base64url, hex, split) never reaches /v1/logs", async () => {
  const res = await fetch(`${node.gateway}/leak`);
  assert.equal(await res.text(), "logged");
  let lines: Record<string, unknown>[] = [];
  // The log lines of the invocation are written as it runs; the last is the console.warn.
  for (let i = 0; i < 100 && !lines.some((l) => l["level"] === 40); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    lines = ((await api("GET", "/v1/logs?service=leak&limit=100")).body["lines"] as Record<string, unknown>[]).filter((l) => l["source"] === "console");
  }
  const text = JSON.stringify(lines);
  assert.ok(lines.length >= 9, text);
  for (const form of secretForms(SECRET)) assert.ok(!text.includes(form), `the form ${JSON.stringify(form)} reached /v1/logs`);
  for (const part of ["sk_live", "51Hq", Buffer.from(SECRET).toString("hex").slice(0, 16), Buffer.from(SECRET).toString("base64").slice(0, 12)]) {
    assert.ok(!text.includes(part), `${JSON.stringify(part)} reached /v1/logs: ${text}`);
  }
  assert.ok((text.match(/\[REDACTED\]/g) ?? []).length >= 10, text);
  await neighbourAnswers();
});

test("GET //[ and other targets that are not paths get a coded 400 from the node API; the node keeps serving", async () => {
  for (const target of ["//[", "//[::1", "*", "//%", "/%ZZ", "http://[/v1/stack"]) {
    const text = await rawSocket(node.control, `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    assert.match(text, /^HTTP\/1\.1 4\d\d /, `${target}: ${text.slice(0, 120)}`);
    const code = (JSON.parse(bodyOf(text)) as { error: { code: string } }).error.code;
    assert.ok(Object.hasOwn(ERROR_CODES, code) && code !== "STRATUS_E_INTERNAL", `${target}: ${code}`);
  }
  await neighbourAnswers();
});

test("a reader never reads a secret from /v1/logs through the service-call line (query strings of binding calls)", async () => {
  const reader = (await api("POST", "/v1/tokens", { name: "rd", role: "reader" })).body as { token: string };
  assert.ok(reader.token);
  assert.equal(await (await fetch(`${node.gateway}/caller`)).text(), "called 200");
  let text = "";
  // The service-call line is written as the call runs.
  for (let i = 0; i < 100 && !text.includes("service call"); i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`${node.control}/v1/logs?limit=200`, { headers: { authorization: `Bearer ${reader.token}` } });
    assert.equal(res.status, 200);
    text = await res.text();
  }
  assert.match(text, /service call/);
  for (const form of secretForms(SECRET)) assert.ok(!text.includes(form), `the form ${JSON.stringify(form)} reached /v1/logs`);
  assert.ok(!text.includes("sk_live"), text);
});
