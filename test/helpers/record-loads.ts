// Loaded with `--import` into a CLI process by the start-up tests: records every module the
// process resolves (ESM and require, built-ins included), every child process it starts and
// every execve, then appends one JSON line to $STRATUS_LOAD_RECORD when the process image ends.
import { ChildProcess } from "node:child_process";
import { appendFileSync } from "node:fs";
import { registerHooks } from "node:module";

const file = process.env["STRATUS_LOAD_RECORD"];
if (file) {
  const loaded = new Set<string>();
  const spawned: string[][] = [];
  registerHooks({
    resolve(specifier, context, next) {
      const r = next(specifier, context);
      loaded.add(r.url);
      return r;
    },
  });
  const write = (execve: string[] | null): void => {
    const moduleLoadList = (process as unknown as { moduleLoadList: string[] }).moduleLoadList;
    const line = { pid: process.pid, execArgv: process.execArgv, loaded: [...loaded], moduleLoadList, spawned, execve };
    appendFileSync(file, `${JSON.stringify(line)}\n`);
  };
  // Every way of starting a child (spawn, fork, exec, execFile) goes through this method.
  const proto = ChildProcess.prototype as unknown as { spawn: (this: ChildProcess, o: { file: string; args: string[] }) => unknown };
  const spawn = proto.spawn;
  proto.spawn = function (options) {
    spawned.push([options.file, ...options.args]);
    return spawn.call(this, options);
  };
  const execve = process.execve?.bind(process);
  if (execve) {
    process.execve = (path: string, args?: readonly string[], env?: NodeJS.ProcessEnv): never => {
      write([path, ...(args ?? [])]);
      return execve(path, args, env);
    };
  }
  process.on("exit", () => write(null));
}
