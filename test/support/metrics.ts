/**
 * Reading Prometheus text metrics and /proc figures (RSS, CPU time, children) of a running Portico process.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

/** Fetches `url` and returns the value of the first sample of `name` (any labels), or undefined. */
export async function metricValue(url: string, name: string): Promise<number | undefined> {
  const response = await fetch(url);
  if (!response.ok) return undefined;
  for (const line of (await response.text()).split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)/.exec(line);
    if (match?.[1] === name) return Number(match[3]);
  }
  return undefined;
}

/** Resident set size of a process in bytes, from /proc (Linux). */
export async function rssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** Peak resident set size of a process in bytes, from /proc (Linux). */
export async function peakRssBytes(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kb) * 1024;
}

/** One metric family read back from Prometheus text. */
export interface ScrapedFamily {
  readonly name: string;
  readonly help: string;
  readonly type: string;
  readonly samples: { readonly name: string; readonly labels: Record<string, string>; readonly value: number }[];
}

/** Parses Prometheus text (as Portico writes it) into families by name. */
export function parseMetrics(text: string): Map<string, ScrapedFamily> {
  const families = new Map<string, ScrapedFamily>();
  const family = (name: string) => {
    let found = families.get(name);
    if (found === undefined) families.set(name, (found = { name, help: '', type: 'untyped', samples: [] }));
    return found;
  };
  for (const line of text.split('\n')) {
    const meta = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (meta !== null) {
      const target = family(meta[2]!) as { help: string; type: string };
      if (meta[1] === 'HELP') target.help = meta[3]!;
      else target.type = meta[3]!;
      continue;
    }
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key!] = value!;
    const base = [...families.keys()].find((name) => sample[1] === name || (sample[1]!.startsWith(name) && /^_(bucket|sum|count)$/.test(sample[1]!.slice(name.length))));
    family(base ?? sample[1]!).samples.push({ name: sample[1]!, labels, value: Number(sample[3]) });
  }
  return families;
}

/** CPU time (user + system) a process has used, in clock ticks (USER_HZ, 100 per second on Linux), from /proc; NaN when it is gone. */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces), starting at field 3: utime is field 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

/** Clock ticks per second of `cpuTicks` (USER_HZ). */
export const TICKS_PER_SECOND = 100;

/** The direct children of a process (from /proc/<pid>/task/<tid>/children of every thread: a child is listed under the thread that forked it); empty when it is gone. */
export function childPids(pid: number): number[] {
  const children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      const text = readFileSync(`/proc/${pid}/task/${task}/children`, 'latin1');
      children.push(...text.trim().split(/\s+/).filter(Boolean).map(Number));
    }
  } catch {
    // Gone (or a thread ended while listing): what was read is all there is.
  }
  return children;
}

/** Resets a process's peak RSS (VmHWM) to its current RSS (`/proc/<pid>/clear_refs` 5); false when the kernel refuses. */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}
