/**
 * The manifest-directory source of standalone mode: loads the directory into ClusterState and
 * keeps it there as files change. Level-triggered: any file event reloads the whole directory
 * (after a short quiet time, so an editor's write-rename dance is one reload) and ClusterState
 * receives the difference, so unchanged objects cost nothing downstream. A file with errors
 * (say, half-saved YAML) keeps serving the objects it last loaded cleanly until it is fixed.
 */
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';
import { objectKey } from '../../state/cluster-state.ts';
import type { ClusterState } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import { loadManifestFiles } from './load.ts';
import type { ManifestProblem } from './parse.ts';

/** Options of the watcher. */
export interface ManifestSourceOptions {
  readonly path: string;
  /** Called after a reload that changed ClusterState, with the kinds that changed. */
  readonly onChange: (kinds: ReadonlySet<KubeObject['kind']>) => void;
  /** Called with every reload's problems (empty when all is well). */
  readonly onProblems: (problems: readonly ManifestProblem[]) => void;
  /** Quiet time before a reload (default 50 ms). */
  readonly debounceMs?: number;
}

function identity(object: KubeObject): string {
  return `${object.kind} ${objectKey(object.metadata.namespace, object.metadata.name)}`;
}

/** Keeps ClusterState in line with a manifest directory. */
export class ManifestSource {
  private readonly state: ClusterState;
  private readonly options: ManifestSourceOptions;
  /** Objects by file, as last loaded without errors. */
  private byFile = new Map<string, KubeObject[]>();
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> | undefined;
  private again = false;
  /** Reloads done so far. */
  reloads = 0;

  constructor(state: ClusterState, options: ManifestSourceOptions) {
    this.state = state;
    this.options = options;
  }

  /** Loads the directory once and starts watching it. Throws when the path cannot be read. */
  async start(): Promise<void> {
    await this.reload();
    this.watcher = watch(this.options.path, { recursive: true }, () => this.schedule());
    this.watcher.on('error', () => this.schedule());
  }

  /** Stops watching. */
  stop(): void {
    clearTimeout(this.timer);
    this.watcher?.close();
  }

  /** Reloads now; concurrent calls coalesce into one more reload. */
  async reload(): Promise<void> {
    if (this.reloading) {
      this.again = true;
      return this.reloading;
    }
    this.reloading = this.doReload().finally(() => (this.reloading = undefined));
    await this.reloading;
    if (this.again) {
      this.again = false;
      await this.reload();
    }
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.reload().catch(() => undefined), this.options.debounceMs ?? 50);
  }

  private async doReload(): Promise<void> {
    this.reloads++;
    let files;
    try {
      files = await loadManifestFiles(this.options.path);
    } catch (error) {
      // The directory vanished or is unreadable: keep serving what was loaded (nothing that worked stops working).
      this.options.onProblems([{ severity: 'error', code: 'PORTICO_E_MANIFEST_READ', file: this.options.path, document: 0, message: `cannot read: ${(error as Error).message}; keeping the last loaded objects` }]);
      return;
    }
    const byFile = new Map<string, KubeObject[]>();
    const problems: ManifestProblem[] = [];
    for (const result of files) {
      problems.push(...result.problems);
      const broken = result.problems.some((p) => p.severity === 'error');
      const previous = this.byFile.get(result.file);
      byFile.set(result.file, broken && previous !== undefined ? previous : result.objects);
    }
    const before = new Map<string, KubeObject>();
    for (const objects of this.byFile.values()) for (const object of objects) before.set(identity(object), object);
    const after = new Map<string, KubeObject>();
    for (const objects of byFile.values()) for (const object of objects) after.set(identity(object), object);
    const kinds = new Set<KubeObject['kind']>();
    for (const [key, object] of before) if (!after.has(key) && this.state.remove(object)) kinds.add(object.kind);
    for (const object of after.values()) if (this.state.upsert(object)) kinds.add(object.kind);
    this.byFile = byFile;
    this.options.onProblems(problems);
    if (kinds.size > 0) this.options.onChange(kinds);
  }
}
