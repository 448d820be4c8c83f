// The coordination interfaces against the embedded backend: two SqliteCoordination clients on one
// file stand for two processes of a node.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { coordinationSuite } from "./conformance.ts";
import { SqliteCoordination } from "./index.ts";

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

coordinationSuite("SqliteCoordination (two clients on one file)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "stratus-coordination-"));
  dirs.push(dir);
  const file = join(dir, "cluster.sqlite");
  return { first: new SqliteCoordination(file), second: async () => new SqliteCoordination(file) };
});
