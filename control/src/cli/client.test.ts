import { describe, expect, it } from 'vitest';
import { table } from './client.ts';

describe('table', () => {
  it('pads each column but the last to its widest cell, header included', () => {
    expect(table(['NAME', 'HOSTS'], [['a', 'x.example.com'], ['longer-name', '-']])).toBe(['NAME         HOSTS', 'a            x.example.com', 'longer-name  -'].join('\n'));
  });

  it('lays out 300,000 rows (hostile: no spread of the rows overflows the stack)', () => {
    const rows = Array.from({ length: 300_000 }, (_, i) => [`route-${i}`, 'x']);
    const lines = table(['NAME', 'HOSTS'], rows).split('\n');
    expect(lines).toHaveLength(300_001);
    expect(lines[300_000]).toBe('route-299999  x');
  });
});
