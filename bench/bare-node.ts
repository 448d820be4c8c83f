// The baseline: a bare Node http.createServer hello world (--workers 2: the same under node:cluster,
// scheduled as Stratus schedules its workers). Listens on --port (default: any free port).
import cluster from "node:cluster";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const arg = (name: string, fallback: number): number => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
};
const workers = arg("--workers", 1);
const port = arg("--port", 0);

if (workers > 1 && cluster.isPrimary) {
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  for (let i = 0; i < workers; i++) cluster.fork();
  process.on("SIGINT", () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.kill();
    process.exit(0);
  });
} else {
  const server = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
    res.end("hello world");
  });
  server.listen(port, "127.0.0.1", () => {
    process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
  });
}
