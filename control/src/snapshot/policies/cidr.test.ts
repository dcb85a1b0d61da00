import { describe, expect, it } from 'vitest';
import { CidrSet, parseCidr, parseCidrList } from './cidr.ts';

describe('parseCidr', () => {
  it.each([
    ['10.0.0.0/8', { family: 4, address: '10.0.0.0', bits: 8 }],
    [' 192.168.1.7 ', { family: 4, address: '192.168.1.7', bits: 32 }],
    ['10.1.2.3/8', { family: 4, address: '10.1.2.3', bits: 8 }],
    ['2001:db8::/32', { family: 6, address: '2001:db8::', bits: 32 }],
    ['::1', { family: 6, address: '::1', bits: 128 }],
    ['0.0.0.0/0', { family: 4, address: '0.0.0.0', bits: 0 }],
  ])('%s parses', (entry, expected) => {
    expect(parseCidr(entry)).toEqual(expected);
  });

  it.each(['', '10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/+8', '10.0.0.0/8/8', '10.0.0/8', 'example.com', 'fe80::1%eth0', '10.0.0.0/0x8', '1.2.3.4 /8'])('%j is refused', (entry) => {
    expect(parseCidr(entry)).toBeUndefined();
  });
});

describe('parseCidrList', () => {
  it('trims, sorts and de-duplicates a good list', () => {
    expect(parseCidrList('10.0.0.0/8, 1.1.1.1,10.0.0.0/8 ,::1/128')).toEqual({ ok: true, cidrs: ['1.1.1.1', '10.0.0.0/8', '::1/128'] });
  });

  it('names every bad entry, empty ones included, rather than dropping them', () => {
    expect(parseCidrList('10.0.0.0/8,,300.1.1.1, 10.0.0.0/40,')).toEqual({ ok: false, invalid: ['(empty entry)', '300.1.1.1', '10.0.0.0/40', '(empty entry)'] });
    expect(parseCidrList('')).toEqual({ ok: false, invalid: ['(empty entry)'] });
  });
});

describe('CidrSet', () => {
  const set = CidrSet.of(['10.0.0.0/8', '192.168.1.7', '2001:db8::/32']) as CidrSet;

  it.each([
    ['10.255.0.1', true],
    ['11.0.0.1', false],
    ['192.168.1.7', true],
    ['192.168.1.8', false],
    ['::ffff:10.1.1.1', true],
    ['2001:db8:ffff::1', true],
    ['2001:db9::1', false],
    ['not-an-address', false],
    ['', false],
  ])('%s -> %s', (address, inside) => {
    expect(set.has(address)).toBe(inside);
  });

  it('returns the first bad entry instead of a set', () => {
    expect(CidrSet.of(['1.1.1.1', 'nope', 'x'])).toBe('nope');
    expect((CidrSet.of([]) as CidrSet).has('1.1.1.1')).toBe(false);
  });
});
