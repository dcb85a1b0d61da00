import { describe, expect, it } from 'vitest';
import type { PolicyCondition } from './module.ts';
import { parseNginxSize } from './proxy.ts';
import { readPolicies } from './registry.ts';

const source = { kind: 'Ingress', namespace: 'web', name: 'upload' };
const A = 'nginx.ingress.kubernetes.io/';

describe('proxy-body-size and proxy timeouts', () => {
  it.each([
    ['8m', 8 * 1024 * 1024],
    ['1K', 1024],
    ['1g', 1024 ** 3],
    ['1024', 1024],
    ['0', 0],
    ['8 m', undefined],
    ['-1', undefined],
    ['1.5m', undefined],
    ['10t', undefined],
    ['9'.repeat(16), undefined],
  ])('size %s is %s bytes', (value, bytes) => {
    expect(parseNginxSize(value)).toBe(bytes);
  });

  it('reads seconds into milliseconds and leaves unset values to the global settings', () => {
    const conditions: PolicyCondition[] = [];
    const reading = readPolicies({ [`${A}proxy-body-size`]: '8m', [`${A}proxy-read-timeout`]: '120' }, source, (c) => conditions.push(c));
    expect(reading.policies?.proxy).toEqual({ maxBodyBytes: 8 * 1024 * 1024, readTimeoutMs: 120_000 });
    expect(conditions).toEqual([]);
  });

  it('invalid values are not applied, each with a Warning naming it; nothing else set means no policy', () => {
    const conditions: PolicyCondition[] = [];
    const reading = readPolicies({ [`${A}proxy-connect-timeout`]: '5s', [`${A}proxy-send-timeout`]: '0', [`${A}proxy-body-size`]: 'lots' }, source, (c) => conditions.push(c));
    expect(reading.policies).toBeUndefined();
    expect(conditions.map((c) => [c.severity, c.field])).toEqual([
      ['Warning', `metadata.annotations['${A}proxy-body-size']`],
      ['Warning', `metadata.annotations['${A}proxy-connect-timeout']`],
      ['Warning', `metadata.annotations['${A}proxy-send-timeout']`],
    ]);
  });
});
