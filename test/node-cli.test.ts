// The node commands as an operator types them: `stratus start` in a child process, then apply,
// versions, deploy, rollback, secrets (value on stdin), tokens, audit and destroy through the CLI.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { tempProject, type TempProject } from "./helpers/project.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
let data: TempProject;
let app: TempProject;
let child: ChildProcess;
let env: NodeJS.ProcessEnv;
let gateway: string;

function stratus(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(process.execPath, ["--no-node-snapshot", MAIN, ...args], { env }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    p.stdin!.end(input ?? "");
  });
}

before(async () => {
  data = tempProject({});
  app = tempProject({
    "stratus.yaml": `name: cli-node\nservices:\n  hello:\n    entry: hello.ts\n    routes: ["GET /hello"]\n    bindings:\n      GREETING: { secret: GREETING }\n`,
    "hello.ts": `export default { fetch(_r: Request, env: { GREETING: string }) { return new Response(env.GREETING + " v1"); } };`,
  });
  child = spawn(process.execPath, ["--no-node-snapshot", MAIN, "start", "--data", data.dir, "--port", "0", "--control-port", "0", "--workers", "2", "--json"], {
    stdio: ["ignore", "pipe", "inherit"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  const line = await new Promise<string>((resolve, reject) => {
    let text = "";
    child.stdout!.on("data", (c: Buffer) => {
      text += c.toString();
      const m = /stratus start: gateway on (\S+), control API on (\S+),/.exec(text);
      if (m) resolve(m[0]);
    });
    child.once("exit", () => reject(new Error(`stratus start exited: ${text}`)));
  });
  const m = /gateway on (\S+), control API on (\S+),/.exec(line)!;
  gateway = m[1]!;
  env = { ...process.env, NODE_OPTIONS: "", HOME: data.dir, STRATUS_URL: m[2]!, STRATUS_TOKEN: readFileSync(join(data.dir, "admin-token"), "utf8").trim() };
});

after(async () => {
  child.kill("SIGTERM");
  await new Promise((r) => child.once("exit", r));
  data.remove();
  app.remove();
});

test("apply refuses a missing secret; secrets set reads stdin; apply, deploy, versions, rollback work", async () => {
  const missing = await stratus(["apply", app.dir, "--yes"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /needs secret "GREETING".*stratus secrets set GREETING/);
  const set = await stratus(["secrets", "set", "GREETING"], "hello from a secret\n");
  assert.equal(set.code, 0, set.stderr);
  const applied = await stratus(["apply", app.dir, "--yes"]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.match(applied.stdout, /\+ service hello/);
  assert.equal(await (await fetch(`${gateway}/hello`)).text(), "hello from a secret v1");
  app.write("hello.ts", `export default { fetch(_r: Request, env: { GREETING: string }) { return new Response(env.GREETING + " v2"); } };`);
  const plan = await stratus(["plan", app.dir]);
  assert.match(plan.stdout, /~ service hello\n\s+version: \w{12} -> \w{12}/);
  const deployed = await stratus(["deploy", "hello", app.dir]);
  assert.match(deployed.stdout, /deployed hello@\w{12}/);
  assert.equal(await (await fetch(`${gateway}/hello`)).text(), "hello from a secret v2");
  const versions = await stratus(["versions", "hello"]);
  assert.equal(versions.stdout.trim().split("\n").length, 2, versions.stdout);
  assert.match(versions.stdout, /^\* \w{12}/);
  const rb = await stratus(["rollback", "hello"]);
  assert.equal(rb.code, 0, rb.stderr);
  assert.equal(await (await fetch(`${gateway}/hello`)).text(), "hello from a secret v1");
  app.write("hello.ts", `export default { fetch(_r: Request, env: { GREETING: string }) { return new Response(env.GREETING + " v3"); } };`);
  const canary = await stratus(["deploy", "hello", app.dir, "--canary", "50", "--sticky-header", "x-user"]);
  assert.match(canary.stdout, /canary hello@\w{12} takes 50% of its requests/);
  const seen = new Set<string>();
  for (let u = 0; u < 30; u++) seen.add(await (await fetch(`${gateway}/hello`, { headers: { "x-user": `u${u}` } })).text());
  assert.deepEqual([...seen].sort(), ["hello from a secret v1", "hello from a secret v3"]);
  const promoted = await stratus(["promote", "hello"]);
  assert.match(promoted.stdout, /hello is at \w{12} for all requests/);
  assert.equal(await (await fetch(`${gateway}/hello`)).text(), "hello from a secret v3");
  const badCanary = await stratus(["deploy", "hello", app.dir, "--canary", "150"]);
  assert.equal(badCanary.code, 1);
  assert.match(badCanary.stderr, /between 0 and 100/);
  const status = await stratus(["status"]);
  assert.match(status.stdout, /stack "cli-node"/);
  assert.match(status.stdout, /^hello +\w{12}/m);
  const logs = await stratus(["logs", "--service", "hello", "--json"]);
  assert.equal(logs.code, 0, logs.stderr);
  const records = logs.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { service: string; msg: string; status?: number });
  assert.ok(records.length > 0 && records.every((r) => r.service === "hello"));
  assert.ok(
    records.some((r) => r.msg === "GET /hello 200"),
    logs.stdout.slice(0, 300),
  );
  assert.ok(!logs.stdout.includes("hello from a secret"), "a log line never carries the secret's value");
  const events = await stratus(["events", "list", "--json"]);
  assert.equal(events.code, 0, events.stderr);
  const secrets = await stratus(["secrets", "list"]);
  assert.match(secrets.stdout, /^GREETING {2}set /);
  assert.ok(!secrets.stdout.includes("hello from a secret"));
});

test("tokens: a reader can look but not apply; a revoked token is refused; audit and destroy", async () => {
  const created = JSON.parse((await stratus(["tokens", "create", "--name", "dash", "--role", "reader", "--json"])).stdout) as { token: string; id: string };
  const asReader = { ...env, STRATUS_TOKEN: created.token };
  const look = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, ["--no-node-snapshot", MAIN, "versions", "hello"], { env: asReader }, (err, _o, stderr) =>
      resolve({ code: err ? 1 : 0, stderr }),
    ),
  );
  assert.equal(look.code, 0, look.stderr);
  const apply = await new Promise<{ code: number; stderr: string }>((resolve) =>
    execFile(process.execPath, ["--no-node-snapshot", MAIN, "apply", app.dir, "--yes"], { env: asReader }, (err, _o, stderr) =>
      resolve({ code: err ? 1 : 0, stderr }),
    ),
  );
  assert.equal(apply.code, 1);
  assert.match(apply.stderr, /token "dash" has role reader; this needs deployer or higher/);
  assert.equal((await stratus(["tokens", "revoke", created.id])).code, 0);
  const revoked = await new Promise<{ stderr: string }>((resolve) =>
    execFile(process.execPath, ["--no-node-snapshot", MAIN, "versions", "hello", "--token", created.token], { env }, (_e, _o, stderr) => resolve({ stderr })),
  );
  assert.match(revoked.stderr, /token "dash" \(\w+\) was revoked/);
  const list = await stratus(["tokens", "list"]);
  assert.match(list.stdout, /dash +reader +revoked/);
  const audit = await stratus(["audit"]);
  assert.match(audit.stdout, /token\.revoke/);
  assert.match(audit.stdout, /rollback/);
  const destroy = await stratus(["destroy", "--yes"]);
  assert.match(destroy.stdout, /removed hello/);
  assert.equal((await fetch(`${gateway}/hello`)).status, 404);
});
