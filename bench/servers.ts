// What every benchmark that starts a server needs: a free port, a wait until it answers, a stop.
import type { ChildProcess } from "node:child_process";
import { createServer, type AddressInfo } from "node:net";

/** A port nothing listens on at this moment (127.0.0.1). */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once `url` answers 2xx; throws after 30 s. */
export async function until(url: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > end) throw new Error(`${url} did not come up in 30 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Sends SIGINT and resolves once the process has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGINT");
  await exited;
}
