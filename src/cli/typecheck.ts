/**
 * `stratus check`'s type check: the project's own TypeScript (resolved from the project, the
 * version its `npm run typecheck` uses) run on its tsconfig.json. esbuild only strips types, so
 * without this a type error would first show up at run time.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative, resolve } from "node:path";
import type * as TS from "typescript";

/** What the type check found: diagnostics as `file:line:col: error TSnnnn: message`, or why it did not run. */
export type TypecheckResult = { checked: true; tsconfig: string; version: string; errors: string[] } | { checked: false; reason: string | null };

/** Type-checks the project in `dir` with its tsconfig.json, when it has one and TypeScript is installed there. */
export function typecheckProject(dir: string): TypecheckResult {
  const root = resolve(dir);
  const tsconfig = join(root, "tsconfig.json");
  // A project without a tsconfig.json has not asked for type checking: nothing to say.
  if (!existsSync(tsconfig)) return { checked: false, reason: null };
  let ts: typeof TS;
  try {
    ts = createRequire(join(root, "package.json"))("typescript") as typeof TS;
  } catch {
    return { checked: false, reason: `types not checked: TypeScript is not installed in ${dir} (npm install --save-dev typescript)` };
  }
  const errors: string[] = [];
  const format = (d: TS.Diagnostic): string => {
    const text = ts.flattenDiagnosticMessageText(d.messageText, "\n");
    if (!d.file || d.start === undefined) return `error TS${d.code}: ${text}`;
    const { line, character } = d.file.getLineAndCharacterOfPosition(d.start);
    return `${relative(root, d.file.fileName)}:${line + 1}:${character + 1}: error TS${d.code}: ${text}`;
  };
  const config = ts.getParsedCommandLineOfConfigFile(
    tsconfig,
    { noEmit: true },
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d: TS.Diagnostic) => void errors.push(format(d)) },
  );
  if (!config) return { checked: true, tsconfig, version: ts.version, errors };
  const program = ts.createProgram({
    rootNames: config.fileNames,
    options: config.options,
    ...(config.projectReferences ? { projectReferences: config.projectReferences } : {}),
  });
  for (const d of [...config.errors, ...ts.getPreEmitDiagnostics(program)]) {
    if (d.category === ts.DiagnosticCategory.Error) errors.push(format(d));
  }
  return { checked: true, tsconfig, version: ts.version, errors };
}
