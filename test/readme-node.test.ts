// The README's "Run it as a node" block, run as written with bash (only its ports rewritten to
// free ones) in a temporary copy of the examples: if the block breaks, this test fails.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cpSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { test } from "node:test";
import { tempProject } from "./helpers/project.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The first ```sh block under "## Run it as a node". */
function nodeBlock(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Run it as a node"));
  const m = /```sh\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'README.md has no ```sh block under "## Run it as a node"');
  return m[1]!;
}

function freePort(): Promise<number> {
  const s = createServer();
  return new Promise((resolve) =>
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    }),
  );
}

test("the README's node block runs as written: start, apply, canary deploy, promote", { timeout: 300_000 }, async () => {
  const block = nodeBlock();
  assert.match(block, /8080/);
  assert.match(block, /8081/);
  const [gw, cp] = [await freePort(), await freePort()];
  const script = block.replaceAll("8080", String(gw)).replaceAll("8081", String(cp));
  const project = tempProject({});
  cpSync(join(ROOT, "examples"), join(project.dir, "examples"), { recursive: true });
  // `npx stratus` is this checkout's CLI (the package is not installed in the temporary directory).
  const prelude = `set -euo pipefail\nnpx() { if [ "$1" = stratus ]; then shift; node ${JSON.stringify(join(ROOT, "bin", "stratus.js"))} "$@"; else command npx "$@"; fi; }\n`;
  const bash = spawn("bash", ["-c", prelude + script], {
    cwd: project.dir,
    // Its own process group: the node it starts in the background is ended with it.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "", HOME: project.dir, STRATUS_URL: "", STRATUS_TOKEN: "" },
  });
  let output = "";
  bash.stdout.on("data", (c: Buffer) => (output += c.toString()));
  bash.stderr.on("data", (c: Buffer) => (output += c.toString()));
  try {
    const code = await new Promise<number | null>((resolve) => bash.once("exit", resolve));
    assert.equal(code, 0, output);
    assert.match(output, /applied:/);
    assert.match(output, /order\.created/, "events list (with the token from $STRATUS_TOKEN_FILE) shows the shop's topic");
    assert.match(output, /canary orders@\w{12} takes 10% of its requests/);
    assert.match(output, /orders is at \w{12} for all requests/);
    const res = await fetch(`http://127.0.0.1:${gw}/orders`);
    assert.equal(res.status, 200, await res.text());
    // The block changes a copy: a newcomer's checkout of the examples stays as it was.
    const orders = "examples/shop/services/orders/index.ts";
    assert.equal(readFileSync(join(project.dir, orders), "utf8"), readFileSync(join(ROOT, orders), "utf8"), `the block changed ${orders}`);
  } finally {
    try {
      process.kill(-bash.pid!, "SIGTERM");
    } catch {
      // Already gone.
    }
    // The node finishes in-flight requests and exits; its data directory goes with the project.
    await new Promise((r) => setTimeout(r, 1500));
    project.remove();
  }
});
