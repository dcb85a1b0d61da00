import { describe, expect, it } from 'vitest';
import { parseAuthMap, parseHtpasswd } from './htpasswd.ts';

describe('parseHtpasswd', () => {
  it('keeps usable entries, skips comments and blank lines, first of a repeated user wins', () => {
    const text = '# admins\r\nfoo:$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0\r\n\nbar:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=:comment\nfoo:{PLAIN}other\n';
    expect(parseHtpasswd(text)).toEqual({
      users: [
        { user: 'bar', hash: '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=' },
        { user: 'foo', hash: '$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0' },
      ],
      problems: [{ line: 5, user: 'foo', reason: 'repeated user; the first entry is used' }],
    });
  });

  it('reports each unusable entry by line and user, never its hash, and keeps the rest', () => {
    const text = 'nocolon\n:{PLAIN}x\nb:$2y$05$abcdefghijklmnopqrstuuLwyVuoaBzFIGgHDkB6NfEMDQmw2EyN.\nok:{PLAIN}pw\nd:rl2SqJQ5nY4GQ\n';
    const result = parseHtpasswd(text);
    expect(result.users).toEqual([{ user: 'ok', hash: '{PLAIN}pw' }]);
    expect(result.problems.map((p) => [p.line, p.user])).toEqual([
      [1, ''],
      [2, ''],
      [3, 'b'],
      [5, 'd'],
    ]);
    expect(JSON.stringify(result.problems)).not.toContain('abcdefghijklmnopqrstuu');
  });
});

describe('parseAuthMap', () => {
  it('reads one user per key', () => {
    expect(parseAuthMap({ foo: ' {PLAIN}a\n', bar: 'bogus' })).toEqual({ users: [{ user: 'foo', hash: '{PLAIN}a' }], problems: [{ line: 0, user: 'bar', reason: 'unrecognised password hash scheme' }] });
  });
});
