/**
 * The pure pipeline every mode shares: ClusterState -> (build) -> RoutingModel -> (compile) -> Snapshot.
 */
import type { BuildOptions } from './build/index.ts';
import { buildModel } from './build/index.ts';
import type { ClassSelection } from './build/ingress-class.ts';
import { compileSnapshot } from './compile/index.ts';
import type { Condition } from './model/conditions.ts';
import type { Snapshot } from './snapshot/schema.ts';
import type { ClusterState } from './state/cluster-state.ts';

/** A compiled snapshot and what the build stage said about the objects. */
export interface CompileResult {
  readonly snapshot: Snapshot;
  readonly conditions: readonly Condition[];
}

/**
 * Builds and compiles the whole state; items equal to `previous`'s are shared with it (the
 * result is the same either way). Throws only on a bug (PORTICO_E_SNAPSHOT_INVALID).
 */
export function compileState(state: ClusterState, selection: ClassSelection, previous?: Snapshot, options: BuildOptions = {}): CompileResult {
  const { model, conditions } = buildModel(state, selection, options);
  return { snapshot: compileSnapshot(model, previous), conditions };
}
