// Run by matcher.test.ts in a fresh `node --expose-gc` process (a test worker has too much else
// going on to count collections): prints how much the JS heap grew, and how many collections
// ran, over a million match() + pick() calls.
import { PerformanceObserver } from 'node:perf_hooks';
import { loadMatcher } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { withSets } from './sets.ts';

const table: MatcherTable = withSets({
  hosts: [{ host: 'a.com', paths: [{ pathType: 'Prefix', path: '/x', route: 0, conditions: { headers: [{ name: 'x-c', value: '1' }] } }], fallback: 0 }],
  routes: [{ backends: [{ weight: 3, endpoints: [0, 1] }, { weight: 1, endpoints: [2] }] }],
  endpointCount: 3,
  fallback: -1,
});
const matcher = loadMatcher(table);
// Flat strings, as Node's HTTP parser produces them.
const requests = JSON.parse(JSON.stringify(['A.com:80', '/x/y?q=1', 'b.com', '/', 'a.com', '/x'])) as string[];
const headers = { 'x-c': '1', accept: '*/*' };
const run = (rounds: number): number => {
  let sum = 0;
  for (let i = 0; i < rounds; i++) {
    const k = (i % 3) * 2;
    const route = matcher.match(requests[k] as string, requests[k + 1] as string, 'GET', headers);
    sum = (sum + route + matcher.pick(route)) | 0;
  }
  return sum;
};

run(100_000);
const gc = (globalThis as { gc?: () => void }).gc;
gc?.();
let collections = 0;
const observer = new PerformanceObserver((list) => {
  collections += list.getEntries().length;
});
observer.observe({ entryTypes: ['gc'] });
const before = process.memoryUsage().heapUsed;
const sum = run(1_000_000);
const grown = process.memoryUsage().heapUsed - before;
setTimeout(() => {
  observer.disconnect();
  console.log(JSON.stringify({ grown, collections, sum }));
}, 20);
