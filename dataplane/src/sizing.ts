/**
 * How many worker processes a data plane runs when `--workers` is not given: one per CPU the
 * container may use. A pod's CPU limit is a cgroup quota (v2 `cpu.max`, v1 `cpu.cfs_quota_us`
 * over `cpu.cfs_period_us`), not the host's core count, which on a large node would start a
 * worker per host core and blow the pod's memory limit.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';

/** Reads a file's text, or undefined when it cannot (absent, no permission). */
export type ReadText = (path: string) => string | undefined;

/** The default worker count and what it was derived from. */
export interface WorkerSizing {
  readonly workers: number;
  /** e.g. `cgroup v2 cpu.max 150000 100000 at /sys/fs/cgroup/cpu.max`, or `2 cores`. */
  readonly basis: string;
}

/** Cgroup directories of this process, innermost first, then its ancestors up to the root. */
function lineage(path: string): string[] {
  const parts = path.split('/').filter((part) => part !== '');
  return Array.from({ length: parts.length + 1 }, (_, i) => `/${parts.slice(0, parts.length - i).join('/')}`.replace(/\/$/, '') || '/');
}

/**
 * The CPU quota in CPUs (fractional) that binds this process, or undefined when none does.
 * Walks the cgroup and its ancestors (the tightest limit wins), v2 first, then v1.
 */
export function cgroupCpuLimit(read: ReadText): { cpus: number; basis: string } | undefined {
  const self = read('/proc/self/cgroup') ?? '';
  let best: { cpus: number; basis: string } | undefined;
  const consider = (cpus: number, basis: string) => {
    if (Number.isFinite(cpus) && cpus > 0 && (best === undefined || cpus < best.cpus)) best = { cpus, basis };
  };
  const v2 = /^0::(.*)$/m.exec(self)?.[1];
  if (v2 !== undefined) {
    for (const dir of lineage(v2)) {
      const file = `/sys/fs/cgroup${dir === '/' ? '' : dir}/cpu.max`;
      const [quota, period] = (read(file) ?? '').trim().split(/\s+/);
      if (quota !== undefined && quota !== 'max' && period !== undefined) consider(Number(quota) / Number(period), `cgroup v2 cpu.max "${quota} ${period}" at ${file}`);
    }
  }
  if (best !== undefined) return best;
  const v1 = /^\d+:(?:[^:]*,)?cpu(?:,[^:]*)?:(.*)$/m.exec(self)?.[1];
  if (v1 !== undefined) {
    for (const root of ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct']) {
      for (const dir of lineage(v1)) {
        const base = `${root}${dir === '/' ? '' : dir}`;
        const quota = Number((read(`${base}/cpu.cfs_quota_us`) ?? '').trim());
        const period = Number((read(`${base}/cpu.cfs_period_us`) ?? '').trim());
        if (quota > 0 && period > 0) consider(quota / period, `cgroup v1 cpu.cfs_quota_us ${quota} / cpu.cfs_period_us ${period} at ${base}`);
      }
    }
  }
  return best;
}

/**
 * One worker per CPU of the cgroup limit (rounded up, at least 1), never more than the cores
 * this process may run on; without a limit, one per core.
 */
export function defaultWorkers(read: ReadText = readText, cores: number = availableParallelism()): WorkerSizing {
  const limit = cgroupCpuLimit(read);
  if (limit === undefined) return { workers: Math.max(1, cores), basis: `${cores} cores, no cgroup CPU limit` };
  const workers = Math.max(1, Math.min(Math.ceil(limit.cpus - 1e-9), cores));
  return { workers, basis: `${limit.basis} (${limit.cpus} CPUs, ${cores} cores)` };
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
