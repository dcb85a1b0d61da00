/**
 * One running Portico per data directory: `<data-dir>/lock` holds the owner's pid. A lock whose
 * process is gone (or is this very process, as after a container restart where pid 1 comes back)
 * is taken over.
 */
import { mkdirSync, openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { PorticoError } from '../errors.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, it is just not ours to signal.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Locks `dataDir` for this process (creating the directory); returns the release function.
 * Throws PORTICO_E_DATA_DIR_LOCKED naming the holder's pid when another live process holds it.
 */
export function lockDataDir(dataDir: string, command: string): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const path = join(dataDir, 'lock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      return () => {
        try {
          if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
        } catch {
          // Already gone: nothing to release.
        }
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new PorticoError('PORTICO_E_CONFIG', `cannot lock --data-dir ${dataDir}: ${(error as Error).message}`, { cause: error });
    }
    let holder = NaN;
    try {
      holder = Number(readFileSync(path, 'utf8').trim());
    } catch {
      // Removed between our attempts: try again.
    }
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && alive(holder)) {
      throw new PorticoError('PORTICO_E_DATA_DIR_LOCKED', `--data-dir ${dataDir} is in use by another portico (pid ${holder}); run one \`portico ${command}\` per data directory (is \`npm start\` already running?), or give this one its own --data-dir. If no portico runs, remove ${path}.`);
    }
    try {
      unlinkSync(path);
    } catch {
      // Someone else took it over first; the next attempt sees theirs.
    }
  }
  throw new PorticoError('PORTICO_E_DATA_DIR_LOCKED', `--data-dir ${dataDir}: could not take ${path} (another portico is starting at the same time)`);
}
