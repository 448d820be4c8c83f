/** Starts a temporary project through stratus/testing and cleans up after. */
import { startStack, type TestStack } from "../../src/testing/index.ts";
import { tempProject, type TempProject } from "./project.ts";

/** A running temporary stack. */
export interface TempStack extends TestStack {
  readonly project: TempProject;
}

/** Writes `files` and starts the stack in them. */
export async function tempStack(files: Record<string, string>): Promise<TempStack> {
  const project = tempProject(files);
  try {
    const s = await startStack(project.dir);
    return {
      ...s,
      project,
      close: async () => {
        await s.close();
        project.remove();
      },
    };
  } catch (err) {
    project.remove();
    throw err;
  }
}
