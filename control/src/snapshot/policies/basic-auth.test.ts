import { describe, expect, it } from 'vitest';
import { BasicAuthGate, basicChallenge, basicCredentials } from './basic-auth.ts';
import { parseHtpasswd } from './htpasswd.ts';

const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`;

describe('basicCredentials', () => {
  it.each([
    [basic('foo:bar'), { user: 'foo', password: 'bar' }],
    [basic('foo:b:a:r'), { user: 'foo', password: 'b:a:r' }],
    [`basic  ${Buffer.from('foo:').toString('base64')} `, { user: 'foo', password: '' }],
    [basic('nocolon'), undefined],
    ['Bearer abc', undefined],
    ['Basic', undefined],
    ['Basic !!!!', undefined],
    ['Basic Zm9v=', undefined],
    [undefined, undefined],
  ])('%j', (header, expected) => {
    expect(basicCredentials(header)).toEqual(expected);
  });
});

describe('BasicAuthGate', () => {
  const gate = new BasicAuthGate(parseHtpasswd('foo:$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0\nbar:{PLAIN}pw\n').users);

  it('lets a known user with the password through, on every request', () => {
    expect(gate.allows(basic('foo:secret'))).toBe(true);
    expect(gate.allows(basic('foo:secret'))).toBe(true);
    expect(gate.allows(basic('bar:pw'))).toBe(true);
  });

  it('refuses a wrong password, an unknown user, another user\'s password and no header', () => {
    expect(gate.allows(basic('foo:Secret'))).toBe(false);
    expect(gate.allows(basic('baz:secret'))).toBe(false);
    expect(gate.allows(basic('bar:secret'))).toBe(false);
    expect(gate.allows(undefined)).toBe(false);
  });
});

describe('basicChallenge', () => {
  it('quotes the realm', () => {
    expect(basicChallenge('test auth')).toBe('Basic realm="test auth"');
    expect(basicChallenge('a "b" \\c')).toBe('Basic realm="a \\"b\\" \\\\c"');
  });
});
