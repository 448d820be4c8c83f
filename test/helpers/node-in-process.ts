/** Test helper: a `stratus start` node in this process on free ports (faster than a child process). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NodeApi, NodeServer } from "../../src/node/index.ts";
import { silentLogger, type Logger } from "../../src/telemetry/index.ts";

/** A running in-process node: its parts, addresses and admin token. */
export interface InProcessNode {
  node: NodeServer;
  api: NodeApi;
  /** Base URL of the control API. */
  control: string;
  /** Base URL of the gateway. */
  gateway: string;
  /** The admin token written on first start. */
  token: string;
  /** Closes the control API, then stops the node. */
  stop: () => Promise<void>;
}

/** Starts a node on `dir` with its control API, both on free loopback ports. */
export async function startNodeInProcess(dir: string, options: { workers?: number; logger?: Logger } = {}): Promise<InProcessNode> {
  const node = new NodeServer({
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    controlPort: 0,
    workers: options.workers ?? 1,
    logger: options.logger ?? silentLogger(),
    print: () => undefined,
  });
  const gw = await node.start();
  const api = new NodeApi(node);
  const control = `http://127.0.0.1:${await api.listen(0, "127.0.0.1")}`;
  return {
    node,
    api,
    control,
    gateway: `http://127.0.0.1:${gw}`,
    token: readFileSync(join(dir, "admin-token"), "utf8").trim(),
    stop: async () => {
      await api.close();
      await node.stop();
    },
  };
}
