/** Commands for a production node: start, plan, apply, deploy, versions, rollback, destroy, tokens, secrets, audit. */
import { availableParallelism } from "node:os";
import { createInterface } from "node:readline/promises";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import { StratusError, toStratusError } from "../errors/index.ts";
import type { Role } from "../registry/index.ts";
import { callApi, controlBase, TOKEN_OPTION, useToken } from "./control-client.ts";

type Out = (line: string) => void;

interface DeployFlags {
  canary?: string;
  stickyHeader?: string;
  stickyCookie?: string;
  maxErrorRate?: string;
  window?: string;
  minRequests?: string;
  url?: string;
  token?: string;
  json?: boolean;
}

function port(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError(`${name} must be a port number (0-65535), got "${v}"`);
    return n;
  };
}

/** Builds every service of the project (or one) and reads its stack file. */
async function build(dir: string, only?: string): Promise<{ yaml: string; bundles: { service: string; code: string; digest: string }[] }> {
  // Loaded here, not at the top: commands that only talk to a node load no bundler or runtime.
  const [{ buildStack }, { loadStack }, { digestOf }] = await Promise.all([
    import("../build/index.ts"),
    import("../config/index.ts"),
    import("../registry/index.ts"),
  ]);
  const stack = loadStack(dir);
  if (only !== undefined && !stack.services.some((s) => s.name === only)) {
    throw new StratusError(
      "STRATUS_E_CLI_USAGE",
      `service "${only}" is not in ${stack.file}; the services there: ${stack.services.map((s) => s.name).join(", ")}`,
    );
  }
  const results = await buildStack(only === undefined ? stack : { ...stack, services: stack.services.filter((s) => s.name === only) });
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    throw new StratusError("STRATUS_E_BUILD", failed.map((f) => (f.ok ? "" : `service "${f.service}": ${f.error.message}`)).join("\n"));
  }
  return {
    yaml: readFileSync(stack.file, "utf8"),
    bundles: results.flatMap((r) => (r.ok ? [{ service: r.service, code: r.bundle.code, digest: digestOf(r.bundle.code) }] : [])),
  };
}

/** Adds the node commands. */
export function registerNodeCommands(program: Command, out: Out): void {
  const url = ["--url <url>", "control API of the node (default: $STRATUS_URL, ~/.stratus/config.json, http://127.0.0.1:8081)"] as const;
  const token = TOKEN_OPTION;

  program
    .command("start")
    .description("Run a production node: gateway, control API with tokens, durable registry in --data")
    .option("--data <dir>", "data directory (registry, state, events, master key, admin token)", "./stratus-data")
    .option("--host <host>", "address to bind", "127.0.0.1")
    .option("-p, --port <port>", "gateway port", port("--port"), 8080)
    .option("--control-port <port>", "control API port", port("--control-port"), 8081)
    .option("-w, --workers <n>", "worker processes (default: one per CPU core; 1 serves from this process)", port("--workers"), availableParallelism())
    .option("--json", "log JSON lines (the default when not a terminal)")
    .action(async (o: { data: string; host: string; port: number; controlPort: number; workers: number; json?: boolean }) => {
      // Everything the node writes (registry, state, events, their -wal/-shm) is its owner's only;
      // worker processes inherit the mask.
      process.umask(0o077);
      const [{ NodeApi, NodeServer }, { createLogger, LogBuffer }] = await Promise.all([import("../node/index.ts"), import("../telemetry/index.ts")]);
      const json = o.json ?? !process.stdout.isTTY;
      const logs = new LogBuffer();
      const logger = createLogger({ json, buffer: logs });
      // A start that fails leaves nothing behind: no process, no token, no data directory it made.
      const madeDir = !existsSync(o.data);
      const node = new NodeServer({
        dataDir: o.data,
        host: o.host,
        port: o.port,
        controlPort: o.controlPort,
        workers: o.workers,
        logger,
        print: out,
        json,
        logs,
      });
      const api = new NodeApi(node);
      let gw: number;
      let cp: number;
      try {
        gw = await node.start();
        cp = await api.listen(o.controlPort, o.host);
      } catch (err) {
        await api.close().catch(() => undefined);
        await node.stop().catch(() => undefined);
        if (madeDir) rmSync(o.data, { recursive: true, force: true });
        logger.flush?.();
        throw err;
      }
      // The last boundary: a rejection nothing handled is logged with a code; the node keeps serving.
      process.on("unhandledRejection", (err: unknown) => {
        const e = toStratusError(err);
        logger.error({ code: e.code, stack: err instanceof Error ? err.stack : undefined }, `unhandled rejection: ${e.message}`);
      });
      out(`stratus start: gateway on http://${o.host}:${gw}, control API on http://${o.host}:${cp}, data in ${o.data}`);
      await new Promise<void>((resolve) => {
        const stop = (): void => resolve();
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
      out("stopping: finishing in-flight requests");
      await api.close();
      await node.stop();
      logger.flush?.();
    });

  const printPlan = (r: { plan: unknown; text: string }, json: boolean | undefined): void => out(json ? JSON.stringify(r.plan) : r.text);

  program
    .command("plan")
    .description("Show what `stratus apply` would change on the node: services, routes, bindings, subscriptions, schedules, scaling, secret names")
    .argument("[dir]", "project directory", ".")
    .option(...url)
    .option(...token)
    .option("--json", "print the plan as JSON")
    .action(async (dir: string, o: { url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const b = await build(dir);
      const r = await callApi(
        controlBase(o.url),
        "POST /v1/plan",
        {},
        {
          yaml: b.yaml,
          bundles: b.bundles.map(({ service, digest }) => ({ service, digest })),
        },
      );
      printPlan(r, o.json);
    });

  program
    .command("apply")
    .description("Build every service and apply the stack to the node: all or nothing")
    .argument("[dir]", "project directory", ".")
    .option("--yes", "do not ask for confirmation")
    .option(...url)
    .option(...token)
    .option("--json", "print the result as JSON")
    .action(async (dir: string, o: { yes?: boolean; url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const base = controlBase(o.url);
      const b = await build(dir);
      if (!o.yes) {
        const plan = await callApi(
          base,
          "POST /v1/plan",
          {},
          {
            yaml: b.yaml,
            bundles: b.bundles.map(({ service, digest }) => ({ service, digest })),
          },
        );
        out(plan.text);
        if (plan.plan.changes.length === 0) return;
        if (!(await confirm("apply these changes?"))) throw new StratusError("STRATUS_E_CLI_USAGE", "not applied (answer y to apply, or pass --yes)");
      }
      const r = await callApi(base, "POST /v1/apply", {}, b);
      out(o.json ? JSON.stringify(r.plan) : `applied:\n${r.text}`);
    });

  program
    .command("deploy")
    .description("Build one service and deploy it (its code and its config from the stack file); the others stay as they run")
    .argument("<service>", "service name")
    .argument("[dir]", "project directory", ".")
    .option("--canary <percent>", "send only this percent of the service's requests to the new version (end with promote or rollback)")
    .option("--sticky-header <name>", "canary: keep a client on one version by this request header's value")
    .option("--sticky-cookie <name>", "canary: keep a client on one version by this cookie's value")
    .option("--max-error-rate <fraction>", "canary: roll back by itself above this error rate (status >= 500), default 0.05")
    .option("--window <duration>", 'canary: the window the error rate is measured over, default "60s"')
    .option("--min-requests <n>", "canary: requests in the window before the rate counts, default 20")
    .option(...url)
    .option(...token)
    .option("--json", "print the result as JSON")
    .action(async (service: string, dir: string, o: DeployFlags) => {
      useToken(o.token);
      const b = await build(dir, service);
      const canary =
        o.canary === undefined
          ? undefined
          : {
              percent: Number(o.canary),
              ...(o.stickyHeader ? { stickyHeader: o.stickyHeader } : {}),
              ...(o.stickyCookie ? { stickyCookie: o.stickyCookie } : {}),
              ...(o.maxErrorRate ? { maxErrorRate: Number(o.maxErrorRate) } : {}),
              ...(o.window ? { window: o.window } : {}),
              ...(o.minRequests ? { minRequests: Number(o.minRequests) } : {}),
            };
      const r = await callApi(controlBase(o.url), "POST /v1/services/{name}/deploy", { name: service }, { ...b, ...(canary ? { canary } : {}) });
      if (o.json) return out(JSON.stringify({ service, version: r.version, canary: canary?.percent ?? null }));
      out(
        canary
          ? `canary ${service}@${r.version} takes ${canary.percent}% of its requests (stratus promote ${service} | stratus rollback ${service})`
          : `deployed ${service}@${r.version}`,
      );
    });

  program
    .command("promote")
    .description("Make a service's canary version the active one for all requests")
    .argument("<service>", "service name")
    .option(...url)
    .option(...token)
    .action(async (service: string, o: { url?: string; token?: string }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "POST /v1/services/{name}/promote", { name: service }, {});
      out(`${service} is at ${r.version} for all requests`);
    });

  program
    .command("versions")
    .description("A service's versions on the node, newest first (* = active)")
    .argument("<service>", "service name")
    .option(...url)
    .option(...token)
    .option("--json", "print as JSON")
    .action(async (service: string, o: { url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "GET /v1/services/{name}/versions", { name: service });
      if (o.json) return out(JSON.stringify(r));
      for (const v of r.versions) out(`${v.active ? "*" : " "} ${v.version}  ${new Date(v.created).toISOString()}  code ${v.digest.slice(0, 12)}`);
    });

  program
    .command("rollback")
    .description("End a service's canary, or make its previous version active again (or --to a given one)")
    .argument("<service>", "service name")
    .option("--to <version>", "the version to make active")
    .option(...url)
    .option(...token)
    .action(async (service: string, o: { to?: string; url?: string; token?: string }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "POST /v1/services/{name}/rollback", { name: service }, o.to ? { to: o.to } : {});
      out(`${service} is at ${r.version}`);
    });

  program
    .command("destroy")
    .description("Remove every service of the stack from the node")
    .option("--yes", "do not ask for confirmation")
    .option(...url)
    .option(...token)
    .action(async (o: { yes?: boolean; url?: string; token?: string }) => {
      useToken(o.token);
      const base = controlBase(o.url);
      const now = await callApi(base, "GET /v1/stack", {});
      if (now.stack === null) return out("the node runs no stack");
      if (!o.yes && !(await confirm(`remove stack "${now.stack}" (${Object.keys(now.active).join(", ")}) from ${base}?`))) {
        throw new StratusError("STRATUS_E_CLI_USAGE", "not destroyed (answer y, or pass --yes)");
      }
      const r = await callApi(base, "DELETE /v1/stack", {});
      out(`removed ${r.removed.join(", ") || "nothing"}`);
    });

  const tokens = program.command("tokens").description("API tokens of the node (admin)");
  tokens
    .command("create")
    .description("Create a token; it is printed once")
    .requiredOption("--name <name>", "what the token is for, e.g. ci")
    .requiredOption("--role <role>", "admin, deployer or reader")
    .option("--ttl <duration>", 'expire after this long, e.g. "30d"')
    .option(...url)
    .option(...token)
    .option("--json", "print as JSON")
    .action(async (o: { name: string; role: string; ttl?: string; url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "POST /v1/tokens", {}, { name: o.name, role: o.role as Role, ...(o.ttl ? { ttl: o.ttl } : {}) });
      out(o.json ? JSON.stringify(r) : `${r.token}\n(token "${r.name}", role ${r.role}, id ${r.id}: store it now, it is not shown again)`);
    });
  tokens
    .command("recover")
    .description("Write a new admin token to DATA/admin-token when every admin token is revoked or expired (needs local access to the data directory; audited)")
    .requiredOption("--data <dir>", "the node's data directory")
    .action(async (o: { data: string }) => {
      const { recoverAdmin } = await import("../node/index.ts");
      const file = await recoverAdmin(o.data);
      out(`a new admin token "recovered-admin" is in ${file} (mode 0600; audited as token.recover); export STRATUS_TOKEN=$(cat ${file})`);
    });
  tokens
    .command("list")
    .description("List tokens (never their secret part)")
    .option(...url)
    .option(...token)
    .option("--json", "print as JSON")
    .action(async (o: { url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "GET /v1/tokens", {});
      if (o.json) return out(JSON.stringify(r));
      for (const t of r.tokens) {
        const state = t.revoked !== null ? "revoked" : t.expires !== null && t.expires < Date.now() ? "expired" : "active";
        out(`${t.id}  ${t.name.padEnd(16)} ${t.role.padEnd(9)} ${state}`);
      }
    });
  tokens
    .command("revoke")
    .description("Revoke a token by id")
    .argument("<id>", "token id (from tokens list)")
    .option(...url)
    .option(...token)
    .action(async (id: string, o: { url?: string; token?: string }) => {
      useToken(o.token);
      await callApi(controlBase(o.url), "DELETE /v1/tokens/{id}", { id });
      out(`revoked ${id}`);
    });

  const secrets = program.command("secrets").description("Secrets of the node: stored encrypted, never printed");
  secrets
    .command("set")
    .description('Set a secret; the value is read from stdin (printf %s "$VALUE" | stratus secrets set NAME)')
    .argument("<name>", "secret name, e.g. STRIPE_KEY")
    .option(...url)
    .option(...token)
    .action(async (name: string, o: { url?: string; token?: string }) => {
      useToken(o.token);
      if (process.stdin.isTTY) process.stderr.write(`value of ${name} (end with Ctrl-D): `);
      const chunks: Buffer[] = [];
      for await (const c of process.stdin) chunks.push(c as Buffer);
      const value = Buffer.concat(chunks)
        .toString("utf8")
        .replace(/\r?\n$/, "");
      await callApi(controlBase(o.url), "PUT /v1/secrets/{name}", { name }, { value });
      out(`set ${name}`);
    });
  secrets
    .command("list")
    .description("Secret names and when they were set")
    .option(...url)
    .option(...token)
    .option("--json", "print as JSON")
    .action(async (o: { url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "GET /v1/secrets", {});
      if (o.json) return out(JSON.stringify(r));
      for (const s of r.secrets) out(`${s.name}  set ${new Date(s.updated).toISOString()}`);
    });
  secrets
    .command("delete")
    .description("Delete a secret no running service uses")
    .argument("<name>", "secret name")
    .option(...url)
    .option(...token)
    .action(async (name: string, o: { url?: string; token?: string }) => {
      useToken(o.token);
      await callApi(controlBase(o.url), "DELETE /v1/secrets/{name}", { name });
      out(`deleted ${name}`);
    });
  secrets
    .command("rotate-key")
    .description("Rotate the node's master key and re-encrypt every secret (key-file mode)")
    .option(...url)
    .option(...token)
    .action(async (o: { url?: string; token?: string }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "POST /v1/secrets/rotate", {}, {});
      out(`master key rotated (now ${r.keyId})`);
    });

  program
    .command("logs")
    .description("Recent log lines of a node (requests, console output, notices), oldest first")
    .option("--service <name>", "only this service's lines")
    .option("--since <when>", 'from this time: "10m", "2h" ago, or an ISO time (default: the last lines)')
    .option("--limit <n>", "at most this many lines", "200")
    .option("-f, --follow", "keep printing new lines (Ctrl-C stops)")
    .option(...url)
    .option(...token)
    .option("--json", "one JSON record per line")
    .action(async (o: { service?: string; since?: string; limit: string; follow?: boolean; url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      let since: number | undefined;
      if (o.since !== undefined) {
        const ago = /^(\d+)(s|m|h|d)$/.exec(o.since);
        since = ago ? Date.now() - Number(ago[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[ago[2] as "s" | "m" | "h" | "d"] : Date.parse(o.since);
        if (Number.isNaN(since)) throw new InvalidArgumentError(`--since takes "10m", "2h" or an ISO time, got "${o.since}"`);
      }
      const base = controlBase(o.url);
      let stop = false;
      process.once("SIGINT", () => (stop = true));
      for (;;) {
        const params: Record<string, string> = { limit: String(Number(o.limit) || 200) };
        if (o.service) params["service"] = o.service;
        if (since !== undefined) params["since"] = String(since);
        const r = await callApi(base, "GET /v1/logs", params);
        for (const rec of r.lines) {
          if (o.json) out(JSON.stringify(rec));
          else {
            const t = new Date(Number(rec["time"] ?? 0)).toISOString();
            const svc = typeof rec["service"] === "string" ? `${rec["service"]} ` : "";
            const id = typeof rec["requestId"] === "string" ? ` [${rec["requestId"].slice(0, 8)}]` : "";
            out(`${t} ${svc}${String(rec["msg"] ?? "")}${id}`);
          }
          since = Number(rec["time"] ?? 0) + 1;
        }
        if (!o.follow || stop) break;
        await new Promise((res) => setTimeout(res, 1000));
      }
    });

  program
    .command("audit")
    .description("The node's audit log, newest first (admin)")
    .option("--limit <n>", "entries", "50")
    .option(...url)
    .option(...token)
    .option("--json", "print as JSON")
    .action(async (o: { limit: string; url?: string; token?: string; json?: boolean }) => {
      useToken(o.token);
      const r = await callApi(controlBase(o.url), "GET /v1/audit", {});
      const entries = r.entries.slice(0, Number(o.limit) || 50);
      if (o.json) return out(JSON.stringify({ entries }));
      for (const e of entries) out(`${new Date(e.at).toISOString()}  ${e.actor.padEnd(12)} ${e.action.padEnd(16)} ${JSON.stringify(e.detail)}`);
    });
}

async function confirm(question: string): Promise<boolean> {
  if (!process.stdin.isTTY) throw new StratusError("STRATUS_E_CLI_USAGE", `${question} needs an answer, and stdin is not a terminal; pass --yes`);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return /^y(es)?$/i.test((await rl.question(`${question} [y/N] `)).trim());
  } finally {
    rl.close();
  }
}
