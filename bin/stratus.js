#!/usr/bin/env node
// The `stratus` command. isolated-vm needs Node's own startup snapshot off (--no-node-snapshot),
// so this re-runs Node with that flag before loading the CLI (written in TypeScript; Node 24
// runs it directly). Signals are passed on, so Ctrl-C reaches the real process.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const [major] = process.versions.node.split(".").map(Number);
if (major < 24) {
  process.stderr.write(
    `stratus: Node.js ${process.versions.node} is too old; Stratus needs Node.js 24 or later.\n` +
      `  Install it with: npm install -g --prefix /usr/local node@24\n`,
  );
  process.exit(1);
}
const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
if (process.execArgv.includes("--no-node-snapshot")) {
  await import(main);
} else {
  const child = spawn(process.execPath, ["--no-node-snapshot", "--disable-warning=ExperimentalWarning", main, ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => process.exit(code ?? (signal === "SIGINT" ? 130 : 1)));
}
