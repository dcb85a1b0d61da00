import { describe, expect, it } from 'vitest';
import type { AnnotationWarning } from './cors.ts';
import { readLimits } from './limits.ts';

function read(annotations: Record<string, string>) {
  const errors: AnnotationWarning[] = [];
  return { policy: readLimits(annotations, errors), errors: errors.map((e) => e.annotation) };
}

describe('readLimits', () => {
  it('is undefined without a limit (a multiplier or whitelist alone limits nothing)', () => {
    expect(read({})).toEqual({ policy: undefined, errors: [] });
    expect(read({ 'limit-burst-multiplier': '3', 'limit-whitelist': '10.0.0.0/8' })).toEqual({ policy: undefined, errors: [] });
    expect(read({ 'limit-rps': '0' })).toEqual({ policy: undefined, errors: [] });
  });

  it('reads every limit annotation', () => {
    expect(read({ 'limit-rps': '5', 'limit-rpm': ' 300 ', 'limit-connections': '2', 'limit-burst-multiplier': '2', 'limit-whitelist': '10.0.0.0/8, ::1' })).toEqual({
      policy: { rps: 5, rpm: 300, connections: 2, burstMultiplier: 2, whitelist: ['10.0.0.0/8', '::1'] },
      errors: [],
    });
    expect(read({ 'limit-rps': '1' }).policy).toEqual({ rps: 1, burstMultiplier: 5, whitelist: [] });
  });

  it('names every unreadable value, so the route is refused rather than served unlimited', () => {
    expect(read({ 'limit-rps': '5r/s', 'limit-rpm': '-1', 'limit-connections': '1e3', 'limit-burst-multiplier': '2.5', 'limit-whitelist': '10.0.0.0/8,nope' }).errors).toEqual([
      'limit-rps',
      'limit-rpm',
      'limit-connections',
      'limit-burst-multiplier',
      'limit-whitelist',
    ]);
    expect(read({ 'limit-rps': '99999999' }).errors).toEqual(['limit-rps']);
  });
});
