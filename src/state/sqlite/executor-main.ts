/**
 * The SQL executor process of one service (see executor.ts): runs that service's SQL on its own
 * thread, so a statement that never ends stalls nothing but this process, which its parent kills.
 * Requests arrive one at a time over IPC; each names the database file the parent chose.
 */
import { Worker } from "node:worker_threads";
import { StratusError } from "../../errors/index.ts";
import { SqliteSqlEngine } from "./engine.ts";
import { allowanceFor } from "./quota.ts";
import type { ExecRequest, ExecReply } from "./executor.ts";

// If the worker process that started this one dies (even by SIGKILL) while a statement runs, no
// one would stop that statement: this thread, free while the main one is busy in SQLite, ends
// the process as soon as it is orphaned.
new Worker(
  `const { workerData } = require("node:worker_threads");
   setInterval(() => { if (process.ppid !== workerData) process.kill(process.pid, "SIGKILL"); }, 500);`,
  { eval: true, workerData: process.ppid },
).unref();

const heapBytes = Number(process.env["STRATUS_SQL_HEAP_BYTES"] ?? 0);
const engines = new Map<string, SqliteSqlEngine>();

function engine(file: string): SqliteSqlEngine {
  let e = engines.get(file);
  if (!e) {
    e = new SqliteSqlEngine(file, { heapLimitBytes: engines.size === 0 && heapBytes > 0 ? heapBytes : null });
    engines.set(file, e);
  }
  return e;
}

function run(req: ExecRequest): unknown {
  const e = engine(req.file);
  e.setAllowance(req.quota ? allowanceFor(req.file, req.quota) : null, req.quota);
  switch (req.op) {
    case "query":
      return e.query(req.args[0], req.args[1], req.args[2]);
    case "batch":
      return e.batch(req.args[0]);
    case "exec":
      return e.exec(req.args[0]);
  }
}

process.on("message", (req: ExecRequest) => {
  let reply: ExecReply;
  try {
    reply = { id: req.id, ok: true, value: run(req) };
  } catch (err) {
    const code = err instanceof StratusError ? err.code : "STRATUS_E_SQL";
    reply = { id: req.id, ok: false, code, message: err instanceof Error ? err.message : String(err) };
  }
  process.send!(reply);
});

process.send!("ready");

// The parent closes the channel when the service goes idle or the node stops: close the files
// cleanly (checkpointing the write-ahead log) and leave.
process.on("disconnect", () => {
  for (const e of engines.values()) e.close();
  process.exit(0);
});
