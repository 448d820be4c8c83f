/** Builds every service of a stack, keeping going past failures so each gets its own error. */
import type { ResolvedStack } from "../config/index.ts";
import { bundleService, type ServiceBundle } from "./bundle.ts";

/** The outcome of building one service. */
export type BuildOutcome = { service: string; ok: true; bundle: ServiceBundle } | { service: string; ok: false; error: { code: string; message: string } };

/** Builds all services of `stack` in parallel. */
export async function buildStack(stack: ResolvedStack): Promise<BuildOutcome[]> {
  return Promise.all(
    stack.services.map(async (s): Promise<BuildOutcome> => {
      try {
        return { service: s.name, ok: true, bundle: await bundleService(s.entry, stack.dir) };
      } catch (err) {
        const e = err as { code?: string; message?: string };
        return { service: s.name, ok: false, error: { code: e.code ?? "STRATUS_E_BUILD", message: e.message ?? String(err) } };
      }
    }),
  );
}

/** The bundles that built, as the runtime takes them. */
export function builtBundles(outcomes: readonly BuildOutcome[]): { service: string; code: string; hash: string; map: string }[] {
  return outcomes.flatMap((b) => (b.ok ? [{ service: b.service, code: b.bundle.code, hash: b.bundle.hash, map: b.bundle.map }] : []));
}
