// `stratus init` writes only into a new or empty folder; a fresh `git init` counts as empty.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { initProject } from "./init.ts";

test("init accepts a folder that holds only .git and refuses one with anything else", (t) => {
  const root = mkdtempSync(join(tmpdir(), "stratus-init-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const repo = join(root, "repo");
  mkdirSync(join(repo, ".git"), { recursive: true });
  const written = initProject(repo);
  assert.ok(
    written.some((f) => f.endsWith("stratus.yaml")),
    written.join(", "),
  );
  assert.ok(existsSync(join(repo, "services/hello/index.ts")));

  const other = join(root, "other");
  mkdirSync(join(other, ".git"), { recursive: true });
  writeFileSync(join(other, "notes.txt"), "mine");
  assert.throws(() => initProject(other), /already exists and is not empty \(notes\.txt\)/);
});
