import { describe, expect, it } from 'vitest';
import { parseHtdigest } from './htdigest.ts';

const HA1 = '939e7578ed9e3c518a452acee763bce9';

describe('parseHtdigest', () => {
  it('keeps the lines of the realm, sorted by user, and reports every other line by number without its HA1', () => {
    const text = [
      `foo:test auth:${HA1}`,
      '# comment',
      '',
      `bar:test auth:${HA1}:ignored field\r`,
      `baz:other realm:${HA1}`,
      `foo:test auth:${'1'.repeat(32)}`,
      `qux:test auth:${HA1.toUpperCase()}`,
      'nocolons',
      `:test auth:${HA1}`,
      `short:test auth:abc`,
    ].join('\n');
    const result = parseHtdigest(text, 'test auth');
    expect(result.users).toEqual([
      { user: 'bar', ha1: HA1 },
      { user: 'foo', ha1: HA1 },
    ]);
    expect(result.problems.map((p) => [p.line, p.user])).toEqual([
      [5, 'baz'],
      [6, 'foo'],
      [7, 'qux'],
      [8, ''],
      [9, ''],
      [10, 'short'],
    ]);
    expect(result.problems[0]!.reason).toContain('"other realm" is not the auth-realm "test auth"');
    expect(result.problems[1]!.reason).toContain('repeated user');
    expect(JSON.stringify(result.problems)).not.toContain(HA1.toUpperCase());
  });

  it('hostile: a huge file is bounded in users', () => {
    const lines = Array.from({ length: 10_005 }, (_, i) => `u${i}:r:${HA1}`).join('\n');
    const result = parseHtdigest(lines, 'r');
    expect(result.users).toHaveLength(10_000);
    expect(result.problems).toHaveLength(5);
    expect(result.problems[0]!.reason).toContain('more than 10000 users');
  });
});
