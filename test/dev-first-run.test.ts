// A new user's first minutes with `stratus dev`: a module that cannot load is explained, an edit
// saved right after start is served, service bindings see ctx.params, and stacks point at the
// user's .ts lines.
import assert from "node:assert/strict";
import { test } from "node:test";
import { projectFiles } from "../src/cli/init.ts";
import { createLogger } from "../src/telemetry/index.ts";
import { testDevServer } from "./helpers/dev.ts";
import { tempProject } from "./helpers/project.ts";
import { waitFor } from "./helpers/wait.ts";

test("an edit saved the moment dev prints its address is served", async (t) => {
  const project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  app:\n    entry: app.ts\n    routes: ["GET /*"]\n`,
    "app.ts": `export default { fetch: () => new Response("v1") };`,
  });
  // Saved from inside the print of the address: the earliest moment a user could save.
  const print = (line: string): void => {
    if (line.startsWith("stratus dev: stack")) project.write("app.ts", `export default { fetch: () => new Response("v2") };`);
  };
  const dev = testDevServer(project.dir, { print });
  t.after(async () => {
    await dev.stop();
    project.remove();
  });
  const base = `http://127.0.0.1:${await dev.start()}`;
  await waitFor(async () => (await (await fetch(base, { headers: { connection: "close" } })).text()) === "v2", 15_000, "the edit to be served");
});

test("a module with no default export, or whose top level throws, is explained by dev (service, file, line, fix) and by its 503", async (t) => {
  const project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  nodefault:\n    entry: nodefault.ts\n    routes: ["GET /a"]\n  throws:\n    entry: src/throws.ts\n    routes: ["GET /b"]\n`,
    "nodefault.ts": `export const handler = { fetch: () => new Response("a") };`,
    "src/throws.ts": `const config: Record<string, string> = {};\nif (!config.url) throw new Error("config.url is not set");\nexport default { fetch: () => new Response("b") };\n`,
  });
  const printed: string[] = [];
  const dev = testDevServer(project.dir, { print: (l) => printed.push(l) });
  t.after(async () => {
    await dev.stop();
    project.remove();
  });
  const base = `http://127.0.0.1:${await dev.start()}`;
  const out = printed.join("\n");
  assert.match(
    out,
    /service "nodefault" failed to load \(STRATUS_E_NO_HANDLER\).*\n.*\(nodefault\.ts\): the module has no default export; write `export default/,
  );
  assert.match(
    out,
    /service "throws" failed to load \(STRATUS_E_HANDLER_THREW\).*\n.*\(src\/throws\.ts\) failed while loading: config\.url is not set\n\s+at src\/throws\.ts:2:\d+\n\s+fix: /,
  );
  const a = await fetch(`${base}/a`);
  assert.equal(a.status, 503);
  assert.match(await a.text(), /it failed to load .*no default export/);
  const b = await fetch(`${base}/b`);
  assert.equal(b.status, 503);
  assert.match(await b.text(), /config\.url is not set at src\/throws\.ts:2:/);
});

test("the scaffold's hello service, called through a service binding, sees ctx.params of its route", async (t) => {
  const files = projectFiles("demo");
  const project = tempProject({
    ...files,
    "stratus.yaml": `${files["stratus.yaml"]}  front:\n    entry: services/front/index.ts\n    routes: ["GET /front/*"]\n    bindings:\n      HELLO: { service: hello }\n`,
    "services/front/index.ts": `export default {
  async fetch(request: Request, env: { HELLO: { fetch(url: string): Promise<Response> } }): Promise<Response> {
    const path = new URL(request.url).pathname.slice("/front".length);
    const res = await env.HELLO.fetch(\`https://hello\${path}\`);
    return new Response(\`\${res.status} \${await res.text()}\`);
  },
};`,
  });
  const dev = testDevServer(project.dir);
  t.after(async () => {
    await dev.stop();
    project.remove();
  });
  const base = `http://127.0.0.1:${await dev.start()}`;
  assert.equal(await (await fetch(`${base}/front/hello/ada?x=1`)).text(), `200 {"message":"Hello, ada!","visits":1}`);
  assert.equal(await (await fetch(`${base}/front/hello`)).text(), `200 {"message":"Hello, world!","visits":1}`);
  // A path none of its routes match still reaches it (bindings reach internal paths), without params.
  assert.equal(await (await fetch(`${base}/front/internal/x`)).text(), `200 {"message":"Hello, world!","visits":2}`);
});

test("an error thrown in a .ts service names its .ts file and line in the request's log line and in console lines", async (t) => {
  const project = tempProject({
    "stratus.yaml": `name: t\nservices:\n  app:\n    entry: services/app.ts\n    routes: ["GET /*"]\n`,
    "services/app.ts": `// line 1
interface Order {
  id: string;
}
export default {
  async fetch(request: Request): Promise<Response> {
    const order: Order = { id: new URL(request.url).pathname };
    console.error(new Error(\`logged for \${order.id}\`));
    throw new Error(\`no such order \${order.id}\`);
  },
};
`,
  });
  const lines: string[] = [];
  const destination = { write: (line: string): boolean => lines.push(line) > 0 } as unknown as NodeJS.WritableStream;
  // One worker: this process, so the test reads the log lines the runtime writes.
  const dev = testDevServer(project.dir, { workers: 1, logger: createLogger({ json: true, level: "info", destination }) });
  t.after(async () => {
    await dev.stop();
    project.remove();
  });
  const base = `http://127.0.0.1:${await dev.start()}`;
  const res = await fetch(`${base}/o1`);
  assert.equal(res.status, 500);
  assert.match(await res.text(), /no such order \/o1/);
  await waitFor(() => lines.some((l) => l.includes('"status":500')), 5_000, "the request's log line");
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const request = records.find((r) => r["status"] === 500)!;
  assert.match(String(request["detail"]), /no such order \/o1\n\s+at .*\(services\/app\.ts:9:11\)/);
  const consoleLine = records.find((r) => r["source"] === "console")!;
  assert.match(String(consoleLine["msg"]), /logged for \/o1\n\s+at .*\(services\/app\.ts:8:19\)/);
});
