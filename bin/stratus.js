#!/usr/bin/env node
// The `stratus` command. In a checkout (src/ beside bin/) it runs the TypeScript sources (Node 24
// strips the types); in the installed package it runs the compiled JavaScript in dist/.
//
// isolated-vm needs Node's own startup snapshot off (--no-node-snapshot), and Node starts about
// 90 ms slower without it. So `--help`, `--version` and the commands that only read files or talk
// to a node run right here; the commands that run isolates (dev, start, invoke, check, and any
// command not listed below) replace this process with `node --no-node-snapshot` through execve:
// one process either way, with the same pid, so signals and exit codes need no relaying.
import { existsSync } from "node:fs";
import module from "node:module";
import { fileURLToPath } from "node:url";

const [major] = process.versions.node.split(".").map(Number);
if (major < 24) {
  process.stderr.write(
    `stratus: Node.js ${process.versions.node} is too old; Stratus needs Node.js 24 or later.\n` +
      `  Install it with: npm install -g --prefix /usr/local node@24\n`,
  );
  process.exit(1);
}

const source = new URL("../src/cli/main.ts", import.meta.url);
const main = fileURLToPath(existsSync(source) ? source : new URL("../dist/cli/main.js", import.meta.url));

/** Commands that never start an isolate: they print, scaffold, bundle, or call a node's control API. */
const LIGHT = new Set([
  "help",
  "init",
  "schema",
  "status",
  "events",
  "plan",
  "apply",
  "deploy",
  "promote",
  "versions",
  "rollback",
  "destroy",
  "tokens",
  "secrets",
  "logs",
  "audit",
]);

const args = process.argv.slice(2);
const command = args.find((a) => !a.startsWith("-"));
const light = command === undefined || LIGHT.has(command) || args.some((a) => a === "-h" || a === "--help");
const snapshotOff = process.execArgv.includes("--no-node-snapshot") || /(^|\s)--no-node-snapshot(\s|$)/.test(process.env.NODE_OPTIONS ?? "");

if (light || snapshotOff) {
  // V8's code cache for the CLI's modules (in the temp directory): later starts skip compiling them.
  module.enableCompileCache?.();
  await import(main);
} else if (typeof process.execve === "function") {
  process.execve(
    process.execPath,
    [process.execPath, "--no-node-snapshot", "--disable-warning=ExperimentalWarning", ...process.execArgv, main, ...args],
    process.env,
  );
} else {
  // No execve (Windows): run the CLI as a child and pass signals and the exit code on.
  const { spawn } = await import("node:child_process");
  const child = spawn(process.execPath, ["--no-node-snapshot", "--disable-warning=ExperimentalWarning", ...process.execArgv, main, ...args], {
    stdio: "inherit",
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
}
