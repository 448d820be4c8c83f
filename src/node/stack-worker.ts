/** The worker thread of StackParser: parses, bounds and validates stack files sent to the node. */
import { parentPort } from "node:worker_threads";
import { toStratusError } from "../errors/index.ts";
import { parseBounded } from "./stack-limits.ts";

parentPort!.on("message", (m: { id: number; yaml: string; file: string }) => {
  parseBounded(m.yaml, m.file).then(
    (stack) => parentPort!.postMessage({ id: m.id, stack }),
    (err: unknown) => {
      const e = toStratusError(err);
      parentPort!.postMessage({ id: m.id, error: { code: e.code, message: e.message } });
    },
  );
});
