/** Starts `stratus dev` in-process as the tests use it: two worker processes, port 0, logs off. */
import { DevServer, type DevServerOptions } from "../../src/dev/index.ts";
import { silentLogger } from "../../src/telemetry/index.ts";

/** A DevServer on `dir` with test defaults; `extra` overrides any of them. */
export function testDevServer(dir: string, extra: Partial<DevServerOptions> = {}): DevServer {
  return new DevServer({
    dir,
    port: 0,
    host: "127.0.0.1",
    workers: 2,
    json: true,
    logLevel: "silent",
    logger: silentLogger(),
    print: () => undefined,
    ...extra,
  });
}
