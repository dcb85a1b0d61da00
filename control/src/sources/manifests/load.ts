/**
 * Reading a manifest directory (or a single file) from disk: every `.yaml`, `.yml` and `.json`
 * file below it, recursively, in path order, hidden files and folders skipped. Symbolic links
 * are followed (a Kubernetes ConfigMap volume is `name.yaml -> ..data/name.yaml` with
 * `..data -> ..<timestamp>/`), each real directory visited once.
 */
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { concatenated } from '../../snapshot/order.ts';
import { compareStrings } from '../../state/cluster-state.ts';
import type { ManifestParseResult } from './parse.ts';
import { parseManifestText } from './parse.ts';

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Whether a file name (its last path element or a relative path) names a manifest file the walk reads: `.yaml`, `.yml` or `.json`, not hidden. */
export function isManifestName(name: string): boolean {
  const base = name.slice(Math.max(name.lastIndexOf('/'), name.lastIndexOf('\\')) + 1);
  return MANIFEST_FILE.test(base) && !base.startsWith('.');
}

/** Deepest directory nesting walked (a guard against pathological trees). */
const MAX_DIRECTORY_DEPTH = 32;

/** The manifest files and the directories (as walked, symlinks not resolved) under `path`. */
export interface ManifestTree {
  readonly files: string[];
  readonly directories: string[];
}

/**
 * Walks `path` (a directory, or a file): manifest files sorted, and every directory visited, so
 * a watcher can watch each one. Throws when `path` itself cannot be read.
 */
export async function walkManifestTree(path: string): Promise<ManifestTree> {
  const info = await stat(path);
  if (!info.isDirectory()) return { files: [path], directories: [] };
  const files: string[] = [];
  const directories: string[] = [];
  const visited = new Set<string>();
  const walk = async (dir: string, depth: number): Promise<void> => {
    let real: string;
    try {
      real = await realpath(dir);
    } catch {
      return; // vanished while walking: the next scan sees the new layout
    }
    if (visited.has(real) || depth > MAX_DIRECTORY_DEPTH) return;
    visited.add(real);
    directories.push(dir);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.name.startsWith('.')) continue;
      const full = join(dir, entry.name);
      let kind: 'file' | 'directory' | undefined = entry.isFile() ? 'file' : entry.isDirectory() ? 'directory' : undefined;
      if (entry.isSymbolicLink()) {
        const target = await stat(full).catch(() => undefined); // a dangling link is skipped
        kind = target?.isFile() ? 'file' : target?.isDirectory() ? 'directory' : undefined;
      }
      if (kind === 'file' && MANIFEST_FILE.test(entry.name)) files.push(full);
      else if (kind === 'directory') await walk(full, depth + 1);
    }
  };
  await walk(path, 0);
  return { files: files.sort(compareStrings), directories };
}

/** Lists the manifest files under `path` (or `path` itself when it is a file), sorted. */
export async function listManifestFiles(path: string): Promise<string[]> {
  return (await walkManifestTree(path)).files;
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
  const results = await loadManifestFiles(path);
  // concatenated, not push(...list): one file may hold more objects or problems than a spread's arguments fit on the stack.
  return { objects: concatenated(results.map((result) => result.objects)), problems: concatenated(results.map((result) => result.problems)) };
}
