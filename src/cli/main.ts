/**
 * The `stratus` command line. Subsystems are imported inside the actions that use them, so
 * `--help` and the commands that only talk to a node load neither the runtime (isolated-vm) nor
 * the bundler (esbuild) nor SQLite (test/cli-startup.test.ts holds it to that).
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { StratusError, toStratusError, type ErrorCode } from "../errors/index.ts";
import type { ServiceFigures } from "../telemetry/index.ts";
import { callControl, controlBase, TOKEN_OPTION, useToken } from "./control-client.ts";
import { registerEvents } from "./events.ts";
import { registerNodeCommands } from "./node-commands.ts";
import { initProject } from "./init.ts";
import { typecheckProject } from "./typecheck.ts";

const out = (line: string): void => void process.stdout.write(`${line}\n`);
// A reader that stops early (`stratus status | head`) is not an error.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(0);
  throw err;
});

function intOption(name: string, min: number, max: number) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}, got "${value}"`);
    return n;
  };
}

const program = new Command()
  .name("stratus")
  .description("Serverless microservices in TypeScript: V8-isolate functions behind an HTTP gateway, with per-service state.")
  .version((JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version)
  .showHelpAfterError("(run with --help for usage)")
  .exitOverride();

program
  .command("init")
  .description("Create a new project: one service, a stack file and a test")
  .argument("<dir>", "directory to create")
  .action((dir: string) => {
    const files = initProject(dir);
    out(
      `created ${files.length} files:\n${files.map((f) => `  ${f}`).join("\n")}\n\nnext:\n  cd ${dir} && npm install\n  npx stratus dev     # serve it on http://127.0.0.1:8080\n  npm test            # run its test`,
    );
  });

program
  .command("dev")
  .description("Run the stack locally: build every service, serve it, rebuild on save")
  .argument("[dir]", "project directory (holds stratus.yaml)", ".")
  .option("-p, --port <port>", "gateway port", intOption("--port", 0, 65535), 8080)
  .option("--host <host>", "address to bind", "127.0.0.1")
  .option(
    "-w, --workers <n>",
    "worker processes (default: one per CPU core; 1 serves from this process)",
    intOption("--workers", 1, 64),
    availableParallelism(),
  )
  .option(
    "--control-port <port>",
    "port of the control API: /metrics, /v1/status (default: the gateway port + 1; 0 picks a free one)",
    intOption("--control-port", 0, 65535),
  )
  .option("--control-host <host>", "address of the control API (default 127.0.0.1 whatever --host is; beyond loopback it needs --control-token)")
  .option("--control-token <token>", "bearer token the control API requires (default: $STRATUS_DEV_CONTROL_TOKEN); needed with a non-loopback --control-host")
  .option("--worker-memory <MB>", "replace a worker process gracefully past this resident memory", intOption("--worker-memory", 64, 1_048_576), 1536)
  .option("--json", "JSON log lines (default when output is not a terminal)")
  .option("--no-watch", "do not rebuild on file changes")
  .action(
    async (
      dir: string,
      o: {
        port: number;
        host: string;
        workers: number;
        controlPort?: number;
        controlHost?: string;
        controlToken?: string;
        workerMemory: number;
        json?: boolean;
        watch: boolean;
      },
    ) => {
      const [{ DevServer }, { createLogger }] = await Promise.all([import("../dev/index.ts"), import("../telemetry/index.ts")]);
      const controlToken = o.controlToken ?? process.env["STRATUS_DEV_CONTROL_TOKEN"];
      // The data under .stratus/ (state, events) is the developer's only; workers inherit the mask.
      process.umask(0o077);
      const json = o.json ?? !process.stdout.isTTY;
      const logger = createLogger({ json });
      const dev = new DevServer({
        dir,
        port: o.port,
        host: o.host,
        workers: o.workers,
        // Beside the gateway port by default, so two dev servers on different ports do not collide.
        controlPort: o.controlPort ?? (o.port === 0 || o.port === 65535 ? 0 : o.port + 1),
        // The control API can publish and replay: loopback only unless asked, and then with a token.
        ...(o.controlHost !== undefined ? { controlHost: o.controlHost } : {}),
        ...(controlToken ? { controlToken } : {}),
        maxWorkerRssMb: o.workerMemory,
        json,
        watch: o.watch,
        logger,
        print: out,
      });
      try {
        await dev.start();
      } catch (err) {
        await dev.stop().catch(() => undefined);
        throw err;
      }
      let stopping = false;
      const stop = (): void => {
        if (stopping) return;
        stopping = true;
        out("stopping: finishing in-flight requests");
        void dev.stop().then(() => process.exit(0));
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    },
  );

program
  .command("invoke")
  .description("Call one service once, in this process, with the project's local state")
  .argument("<service>", "service name")
  .argument("[path]", "request path and query", "/")
  .option("-d, --dir <dir>", "project directory", ".")
  .option("-X, --method <method>", "HTTP method (default GET, or POST with --data)")
  .option("--data <body>", "request body")
  .option("-H, --header <header...>", 'request headers, "Name: value"')
  .option("--json", "print { status, headers, body } as JSON")
  .action(async (service: string, path: string, o: { dir: string; method?: string; data?: string; header?: string[]; json?: boolean }) => {
    const [{ buildStack, builtBundles }, { loadStack }, { Router }, { readBody }, { StackHost }, { createLogger, silentLogger }, { chooseBackends }] =
      await Promise.all([
        import("../build/index.ts"),
        import("../config/index.ts"),
        import("../gateway/index.ts"),
        import("../runtime/index.ts"),
        import("../stack/index.ts"),
        import("../telemetry/index.ts"),
        import("../backends/index.ts"),
      ]);
    const stack = loadStack(o.dir);
    if (!stack.services.some((s) => s.name === service)) {
      throw new StratusError("STRATUS_E_CLI_USAGE", `no service "${service}" in ${stack.file}; services: ${stack.services.map((s) => s.name).join(", ")}`);
    }
    const builds = await buildStack(stack);
    for (const b of builds) if (!b.ok && b.service === service) throw new StratusError(b.error.code as "STRATUS_E_BUILD", b.error.message);
    const host = new StackHost({
      // The project's local state; events stay in memory (an invoke delivers nothing later).
      backends: { state: chooseBackends({ dataDir: join(stack.dir, ".stratus") }).state, events: { kind: "sqlite", file: null }, registry: null },
      logger: o.json ? silentLogger() : createLogger({ json: false, level: "warn" }),
      spares: 0,
    });
    try {
      await host.load(stack, builtBundles(builds));
      const headers: string[] = [];
      for (const h of o.header ?? []) {
        const i = h.indexOf(":");
        if (i <= 0) throw new StratusError("STRATUS_E_CLI_USAGE", `--header "${h}" is not "Name: value"`);
        headers.push(h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim());
      }
      const method = (o.method ?? (o.data !== undefined ? "POST" : "GET")).toUpperCase();
      const p = path.startsWith("/") ? path : `/${path}`;
      const svc = stack.services.find((s) => s.name === service)!;
      const q = p.indexOf("?");
      const match = new Router(svc.routes.map((r) => ({ service, method: r.method, path: r.path, raw: r.raw }))).match(method, q < 0 ? p : p.slice(0, q));
      const inv = await host.runtime.invoke(service, {
        method,
        url: `http://${service}${p}`,
        headers: ["host", service, ...headers],
        body: o.data !== undefined ? new TextEncoder().encode(o.data) : null,
        requestId: crypto.randomUUID(),
        params: match.kind === "found" ? { ...match.params } : {},
      });
      const text = Buffer.from(await readBody(inv.result)).toString("utf8");
      if (o.json) {
        const h: Record<string, string> = {};
        for (let i = 0; i < inv.result.headers.length; i += 2) h[inv.result.headers[i]!] = inv.result.headers[i + 1]!;
        out(JSON.stringify({ status: inv.result.status, headers: h, body: text }));
      } else {
        out(`${inv.result.status}${inv.cold ? " (cold start)" : ""}`);
        out(text);
      }
      if (inv.result.error) process.exitCode = 1;
    } finally {
      await host.close();
    }
  });

program
  .command("status")
  .description("Per-service instances (busy/idle), autoscaler's desired instances, in-flight, queued, invocations, errors, cold starts, rejections")
  .option("--url <url>", "control API of the node (default: $STRATUS_URL or http://127.0.0.1:8081)")
  .option(...TOKEN_OPTION)
  .option("--json", "print the status as JSON")
  .action(async (o: { url?: string; token?: string; json?: boolean }) => {
    const base = controlBase(o.url);
    // A node's control API wants a token: --token, $STRATUS_TOKEN, $STRATUS_TOKEN_FILE or the config file (dev's does not).
    useToken(o.token);
    const body = await callControl<{ stack: string; services: ServiceFigures[] }>(base, "GET", "/v1/status");
    if (o.json) return out(JSON.stringify(body));
    const head = [
      "service",
      "version",
      "instances (busy/idle)",
      "desired",
      "in-flight",
      "queued",
      "invocations",
      "errors",
      "cold starts",
      "429s",
      "limit breaches",
    ];
    const rows = body.services.map((s) => [
      s.service,
      (s.versions.join(",") || "-") + (s.canary ? ` + canary ${s.canary.version} ${s.canary.percent}% (${s.canary.instances})` : ""),
      `${s.instances} (${s.busy}/${s.instances - s.busy})`,
      `${s.desired}${s.panic > 0 ? " (panic)" : ""}`,
      String(s.inFlight),
      String(s.queued),
      String(s.invocations),
      String(s.errors),
      String(s.coldStarts),
      String(s.rejections),
      String(s.limitBreaches),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    out(`stack "${body.stack}" at ${base}`);
    for (const r of [head, ...rows])
      out(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd(),
      );
  });

registerEvents(program, out);
registerNodeCommands(program, out);

program
  .command("check")
  .description(
    "Validate the stack file, build every service and load each in an isolate (its top level run, its handlers checked), and type-check the project with its own TypeScript (when it has a tsconfig.json), without serving",
  )
  .argument("[dir]", "project directory", ".")
  .action(async (dir: string) => {
    const [{ buildStack, builtBundles }, { loadStack }, { loadFix }, { secretsFromEnv, StackHost }, { silentLogger }] = await Promise.all([
      import("../build/index.ts"),
      import("../config/index.ts"),
      import("../dev/index.ts"),
      import("../stack/index.ts"),
      import("../telemetry/index.ts"),
    ]);
    const stack = loadStack(dir);
    for (const w of stack.warnings) out(`warning: ${w}`);
    const builds = await buildStack(stack);
    const problems: { service: string; code: string }[] = [];
    for (const b of builds) {
      if (b.ok) continue;
      problems.push({ service: b.service, code: b.error.code });
      out(`service "${b.service}" (${b.error.code}):\n${b.error.message}`);
    }
    // Each service that built is loaded the way dev and a node load it: in a real isolate, its
    // top level run and its default export checked against its routes, subscriptions and
    // schedules. State stays in memory; nothing is served.
    const host = new StackHost({ logger: silentLogger(), spares: 0 });
    try {
      const loaded = await host.load(stack, builtBundles(builds), secretsFromEnv());
      for (const o of loaded) {
        if (o.status !== "failed" || problems.some((p) => p.service === o.service)) continue;
        problems.push({ service: o.service, code: o.error.code });
        const entry = stack.services.find((s) => s.name === o.service)?.entryAsWritten ?? "its entry";
        out(`service "${o.service}" (${o.error.code}):\n${o.error.message}\nfix: ${loadFix(o.error.code, entry)}`);
      }
    } finally {
      await host.close();
    }
    // The project's own TypeScript, when it has a tsconfig.json: esbuild above only strips types.
    const types = typecheckProject(dir);
    if (!types.checked && types.reason) out(`note: ${types.reason}`);
    if (types.checked) for (const e of types.errors) out(e);
    const typeErrors = types.checked && types.errors.length > 0 ? `${types.errors.length} type errors (TypeScript ${types.version}, ${types.tsconfig})` : null;
    if (problems.length > 0) {
      const list = problems.map((p) => `"${p.service}" (${p.code})`).join(", ");
      const also = typeErrors ? `; and ${typeErrors}` : "";
      throw new StratusError(problems[0]!.code as ErrorCode, `${problems.length} of ${builds.length} services failed to build or load: ${list}${also}`);
    }
    if (typeErrors) throw new StratusError("STRATUS_E_BUILD", `${typeErrors}: fix them, or run \`npx tsc -p ${dir}\` for the same list`);
    out(`ok: stack "${stack.name}", ${builds.length} services built and loaded${types.checked ? `, types checked (TypeScript ${types.version})` : ""}`);
  });

program
  .command("schema")
  .description("Print the JSON Schema of stratus.yaml (for editors)")
  .action(async () => {
    const { stackJsonSchema } = await import("../config/index.ts");
    out(JSON.stringify(stackJsonSchema(), null, 2));
  });

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    // The one error boundary: whatever was thrown leaves as a coded error.
    const e = toStratusError(err);
    if (e.code === "STRATUS_E_INTERNAL") {
      process.stderr.write(`stratus: ${e.message} (${e.code})${err instanceof Error && err.stack ? `\n${err.stack}` : ""}\n`);
      process.exitCode = 70;
    } else {
      process.stderr.write(`stratus: ${e.message}\n`);
      process.exitCode = 1;
    }
  }
}
