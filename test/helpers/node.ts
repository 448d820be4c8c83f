/** Test helpers: `stratus start` in a child process, and the CLI as an operator runs it. */
import { execFile, spawn, type ChildProcess } from "node:child_process";

/** The CLI entry. */
export const MAIN = new URL("../../src/cli/main.ts", import.meta.url).pathname;

/** A running `stratus start`. */
export interface StartedNode {
  child: ChildProcess;
  gateway: string;
  control: string;
  /** Everything it printed so far. */
  output: () => string;
  /** SIGTERM, then waits for the exit. */
  stop: () => Promise<void>;
}

/** Starts `stratus start --data <dir>` on free ports; resolves once it prints its addresses. */
export function startNode(dataDir: string, extra: string[] = []): Promise<StartedNode> {
  const child = spawn(
    process.execPath,
    ["--no-node-snapshot", MAIN, "start", "--data", dataDir, "--port", "0", "--control-port", "0", "--workers", "1", "--json", ...extra],
    { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NODE_OPTIONS: "" } },
  );
  let text = "";
  child.stdout.on("data", (c: Buffer) => (text += c.toString()));
  child.stderr.on("data", (c: Buffer) => (text += c.toString()));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const m = /stratus start: gateway on (\S+), control API on (\S+),/.exec(text);
      if (!m) return;
      child.stdout.off("data", check);
      resolve({
        child,
        gateway: m[1]!,
        control: m[2]!,
        output: () => text,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
          await exited;
        },
      });
    };
    child.stdout.on("data", check);
    child.once("exit", (code) => reject(new Error(`stratus start exited (${code}): ${text}`)));
  });
}

/** Runs the CLI; resolves with its exit code and output. */
export function stratus(args: string[], env: NodeJS.ProcessEnv, input = ""): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = execFile(process.execPath, ["--no-node-snapshot", MAIN, ...args], { env: { ...process.env, NODE_OPTIONS: "", ...env } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    p.stdin!.end(input);
  });
}
