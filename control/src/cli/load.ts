/**
 * Loading a manifest directory into a snapshot for the offline commands (explain, snapshot).
 */
import type { ClassSelection } from '../build/ingress-class.ts';
import { PORTICO_CONTROLLER, skippedForClass } from '../build/ingress-class.ts';
import { PorticoError } from '../errors.ts';
import type { CompileResult } from '../pipeline.ts';
import { compileState } from '../pipeline.ts';
import { loadManifests } from '../sources/manifests/load.ts';
import type { ManifestProblem } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';

export { skippedForClass } from '../build/ingress-class.ts';

/** The class options every manifest-reading command shares. */
export const CLASS_OPTIONS = {
  'ingress-class': { type: 'string', default: 'portico' },
  'watch-ingress-without-class': { type: 'boolean', default: true },
} as const;

/** The selection the class options describe. */
export function classSelection(values: Record<string, unknown>): ClassSelection {
  return {
    className: String(values['ingress-class'] ?? 'portico'),
    controller: PORTICO_CONTROLLER,
    watchWithoutClass: values['watch-ingress-without-class'] !== false,
  };
}

/** Formats a manifest problem as `severity: file[:line:column] (document N) field: message [code]`. */
export function formatProblem(problem: ManifestProblem): string {
  const at = problem.line === undefined ? '' : `:${problem.line}:${problem.column ?? 1}`;
  return `${problem.severity}: ${problem.file}${at} (document ${problem.document})${problem.field ? ` ${problem.field}` : ''}: ${problem.message} [${problem.code}]`;
}


/** Loads, builds and compiles a manifest directory. Throws PORTICO_E_MANIFEST_READ when it cannot be read at all. */
export async function compileManifests(dir: string, selection: ClassSelection): Promise<CompileResult & { problems: readonly ManifestProblem[]; skippedForClass: number }> {
  let loaded;
  try {
    loaded = await loadManifests(dir);
  } catch (error) {
    throw new PorticoError('PORTICO_E_MANIFEST_READ', `cannot read manifests at ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const state = ClusterState.from(loaded.objects);
  return { ...compileState(state, selection), problems: loaded.problems, skippedForClass: skippedForClass(state, selection).count };
}
