/** Test helpers: temporary projects on disk, cleaned up after each test file. */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** A project in a temporary directory. */
export interface TempProject {
  readonly dir: string;
  write(rel: string, text: string): void;
  remove: () => void;
}

// Inside the repository, so a project's npm imports (e.g. hono) resolve from its node_modules.
const ROOT = new URL("../../.test-tmp/", import.meta.url).pathname;

/** Writes `files` (relative path -> text) into a new temporary directory. */
export function tempProject(files: Record<string, string>): TempProject {
  mkdirSync(ROOT, { recursive: true });
  const dir = mkdtempSync(join(ROOT, "p-"));
  const write = (rel: string, text: string): void => {
    const path = join(dir, rel);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  };
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A one-service stack file. */
export function oneService(name: string, extra = ""): string {
  return `name: t\nservices:\n  ${name}:\n    entry: ${name}.ts\n    routes: ["ANY /*"]\n${extra}`;
}
