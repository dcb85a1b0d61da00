/**
 * Reading Prometheus text metrics from a running Portico process.
 */

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
