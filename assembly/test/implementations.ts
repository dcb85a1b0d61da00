// The matchers every shared suite runs against: the wasm matcher on the default grid and on a tiny
// one, and the reference matcher (conformance.test.ts, pick-health.test.ts).
import { loadMatcher } from '../src/host/matcher.ts';
import type { Matcher } from '../src/host/matcher.ts';
import type { MatcherTable } from '../src/host/table.ts';
import { TINY_GRID } from './grid-support.ts';
import { loadReference } from './reference.ts';

/** [name, load] of each implementation: the wasm matcher, the same on a tiny grid, the reference. */
export const IMPLEMENTATIONS: [string, (table: MatcherTable) => Matcher][] = [
  ['wasm', (table) => loadMatcher(table)],
  // Buckets of 1 KiB holding 2 routes: most hosts in buckets of their own, some in the overflow area.
  ['wasm, tiny grid', (table) => loadMatcher(table, TINY_GRID)],
  ['reference', loadReference],
];
