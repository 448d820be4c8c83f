// The baseline: a bare Node http.createServer hello world. Prints its port.
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

const server = createServer((_req, res) => {
  res.writeHead(200, { "content-type": "text/plain;charset=UTF-8" });
  res.end("hello world");
});
const i = process.argv.indexOf("--port");
server.listen(i > 0 ? Number(process.argv[i + 1]) : 0, "127.0.0.1", () => {
  process.stdout.write(`listening ${(server.address() as AddressInfo).port}\n`);
});
