import { describe, expect, it } from 'vitest';
import { cgroupCpuLimit, defaultWorkers } from './sizing.ts';

const files = (entries: Record<string, string>) => (path: string) => entries[path];

describe('defaultWorkers', () => {
  const cases: { name: string; files: Record<string, string>; cores: number; workers: number; basis: RegExp }[] = [
    { name: 'cgroup v2 in a container: 1.5 CPUs -> 2 workers', files: { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '150000 100000\n' }, cores: 16, workers: 2, basis: /cgroup v2 cpu.max "150000 100000"/ },
    { name: 'cgroup v2 unlimited: one per core', files: { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': 'max 100000\n' }, cores: 16, workers: 16, basis: /16 cores, no cgroup CPU limit/ },
    { name: 'cgroup v2 nested: the tightest ancestor wins', files: { '/proc/self/cgroup': '0::/kubepods/pod1/c1\n', '/sys/fs/cgroup/kubepods/pod1/c1/cpu.max': 'max 100000', '/sys/fs/cgroup/kubepods/pod1/cpu.max': '200000 100000', '/sys/fs/cgroup/kubepods/cpu.max': '800000 100000' }, cores: 64, workers: 2, basis: /kubepods\/pod1\/cpu.max/ },
    { name: 'cgroup v2 quota below one CPU: still 1 worker', files: { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '20000 100000' }, cores: 8, workers: 1, basis: /0.2 CPUs/ },
    { name: 'limit above the cores: the cores', files: { '/proc/self/cgroup': '0::/\n', '/sys/fs/cgroup/cpu.max': '800000 100000' }, cores: 4, workers: 4, basis: /8 CPUs, 4 cores/ },
    { name: 'cgroup v1 quota', files: { '/proc/self/cgroup': '4:memory:/x\n3:cpu,cpuacct:/kubepods/pod2\n0::/\n', '/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/cpu.cfs_quota_us': '300000\n', '/sys/fs/cgroup/cpu,cpuacct/kubepods/pod2/cpu.cfs_period_us': '100000\n' }, cores: 32, workers: 3, basis: /cgroup v1 cpu.cfs_quota_us 300000/ },
    { name: 'cgroup v1 unlimited (-1)', files: { '/proc/self/cgroup': '1:cpu:/\n0::/\n', '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '-1', '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000' }, cores: 2, workers: 2, basis: /2 cores/ },
    { name: 'no cgroup files at all', files: {}, cores: 6, workers: 6, basis: /6 cores/ },
  ];
  it.each(cases)('$name', ({ files: entries, cores, workers, basis }) => {
    const sizing = defaultWorkers(files(entries), cores);
    expect(sizing.workers).toBe(workers);
    expect(sizing.basis).toMatch(basis);
  });

  it('reads this machine without throwing', () => {
    expect(defaultWorkers().workers).toBeGreaterThanOrEqual(1);
    expect(cgroupCpuLimit(() => undefined)).toBeUndefined();
  });
});
