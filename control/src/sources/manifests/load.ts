/**
 * Reading a manifest directory (or a single file) from disk: every `.yaml`, `.yml` and `.json`
 * file below it, recursively, in path order, hidden files and folders skipped.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { compareStrings } from '../../state/cluster-state.ts';
import type { KubeObject } from '../../state/objects.ts';
import type { ManifestParseResult, ManifestProblem } from './parse.ts';
import { parseManifestText } from './parse.ts';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Lists the manifest files under `path` (or `path` itself when it is a file), sorted. */
export async function listManifestFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && MANIFEST_FILE.test(entry.name))
    .map((entry) => join(entry.parentPath, entry.name))
    .filter((file) => !relative(path, file).split(/[\\/]/).some((part) => part.startsWith('.')))
    .sort(compareStrings);
}

/** What one manifest file yielded. */
export interface ManifestFileResult extends ManifestParseResult {
  /** Path relative to the loaded directory. */
  readonly file: string;
}

/**
 * Loads every manifest under `path`, file by file. Problems name files relative to `path`.
 * Throws only when `path` itself cannot be read (a missing directory is an operator mistake).
 */
export async function loadManifestFiles(path: string): Promise<ManifestFileResult[]> {
  const results: ManifestFileResult[] = [];
  for (const file of await listManifestFiles(path)) {
    const name = relative(path, file) || file;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      results.push({ file: name, objects: [], problems: [{ severity: 'error', code: 'PORTICO_E_MANIFEST_READ', file: name, document: 0, message: `cannot read: ${(error as Error).message}` }] });
      continue;
    }
    results.push({ file: name, ...parseManifestText(text, name) });
  }
  return results;
}

/** Loads every manifest under `path` into one list of objects and one list of problems. */
export async function loadManifests(path: string): Promise<ManifestParseResult> {
  const objects: KubeObject[] = [];
  const problems: ManifestProblem[] = [];
  for (const result of await loadManifestFiles(path)) {
    objects.push(...result.objects);
    problems.push(...result.problems);
  }
  return { objects, problems };
}
