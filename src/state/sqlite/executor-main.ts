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

const engines = new Map<string, SqliteSqlEngine>();
let heapBytes = 0;

function run(req: ExecRequest): unknown {
  let e = engines.get(req.file);
  if (!e) {
    e = new SqliteSqlEngine(req.file);
    engines.set(req.file, e);
  }
  // SQLite's heap limit is process-wide: this process serves one service, so it is that service's.
  if (req.heapBytes !== heapBytes) {
    e.setHeapLimit(req.heapBytes);
    heapBytes = req.heapBytes;
  }
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

/** Sends to the parent; a parent that is gone is the watchdog's and the disconnect's business. */
function send(m: ExecReply | "ready"): void {
  if (process.connected) process.send!(m, undefined, undefined, () => undefined);
}

process.on("message", (req: ExecRequest) => {
  let reply: ExecReply;
  try {
    reply = { id: req.id, ok: true, value: run(req) };
  } catch (err) {
    const code = err instanceof StratusError ? err.code : "STRATUS_E_SQL";
    reply = { id: req.id, ok: false, code, message: err instanceof Error ? err.message : String(err) };
  }
  send(reply);
});

send("ready");

// The parent closes the channel when the service goes idle or the node stops: close the files
// cleanly (checkpointing the write-ahead log) and leave.
process.on("disconnect", () => {
  for (const e of engines.values()) e.close();
  process.exit(0);
});
