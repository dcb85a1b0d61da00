import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ClientFailures, DigestAuthGate, DigestNonces, MAX_DIGEST_HEADER, NonceUses, digestCredentials, digestHa1, digestParams, digestResponse } from './digest-auth.ts';

const REALM = 'test auth';
const USERS = [{ user: 'foo', ha1: digestHa1('foo', REALM, 'secret') }];

/** The header a client answers `challenge` with. */
function answer(challenge: string, options: { user?: string; password?: string; method?: string; uri?: string; nc?: number; cnonce?: string; realm?: string } = {}): string {
  const nonce = /nonce="([^"]+)"/.exec(challenge)![1]!;
  const realm = options.realm ?? REALM;
  const uri = options.uri ?? '/x';
  const nc = (options.nc ?? 1).toString(16).padStart(8, '0');
  const cnonce = options.cnonce ?? 'c0ffee';
  const user = options.user ?? 'foo';
  const ha1 = digestHa1(user, realm, options.password ?? 'secret');
  const response = digestResponse(ha1, options.method ?? 'GET', { nonce, nc, cnonce, uri });
  return `Digest username="${user}", realm="${realm}", nonce="${nonce}", uri="${uri}", qop=auth, nc=${nc}, cnonce="${cnonce}", response="${response}", algorithm=MD5`;
}

describe('digestResponse', () => {
  it('computes RFC 2617 section 3.5\'s example', () => {
    const ha1 = digestHa1('Mufasa', 'testrealm@host.com', 'Circle Of Life');
    expect(digestResponse(ha1, 'GET', { nonce: 'dcd98b7102dd2f0e8b11d0f600bfb0c093', nc: '00000001', cnonce: '0a4f113b', uri: '/dir/index.html' })).toBe('6629fae49393a05397450978507c4ef1');
  });
});

describe('digestParams', () => {
  it.each([
    ['Digest a=b, c="d e"', { a: 'b', c: 'd e' }],
    ['digest   A = "x\\"y\\\\z" ,, B=tok', { a: 'x"y\\z', b: 'tok' }],
    ['DIGEST a=""', { a: '' }],
    ['Digest a="\t"', { a: '\t' }],
  ])('%j', (header, expected) => {
    expect(Object.fromEntries(digestParams(header)!)).toEqual(expected);
  });

  it.each([
    ['another scheme', 'Basic Zm9vOmJhcg=='],
    ['no space after the scheme', 'Digest,a=b'],
    ['a repeated parameter', 'Digest a=b, A=c'],
    ['an unterminated quoted string', 'Digest a="b'],
    ['a lone backslash at the end', 'Digest a="b\\'],
    ['a control character', 'Digest a="b\u0001"'],
    ['DEL in a quoted string', 'Digest a="b\u007f"'],
    ['a missing =', 'Digest a b'],
    ['an empty token value', 'Digest a=, b=c'],
    ['text after a value', 'Digest a="b"c'],
    ['a separator in a name', 'Digest a(b=c'],
    ['b64token credentials', 'Digest YWJj'],
    ['more than 16 parameters', `Digest ${Array.from({ length: 17 }, (_, i) => `p${i}=v`).join(', ')}`],
    ['a header over the limit', `Digest a="${'x'.repeat(MAX_DIGEST_HEADER)}"`],
    ['no header', undefined],
  ])('hostile: %s is refused', (_name, header) => {
    expect(digestParams(header)).toBeUndefined();
  });

  it('hostile: random bytes never throw', () => {
    for (let i = 0; i < 2000; i++) {
      const header = `Digest ${randomBytes(1 + (i % 80)).toString('latin1')}`;
      expect(() => digestParams(header)).not.toThrow();
    }
  });
});

describe('digestCredentials', () => {
  const base = 'Digest username="foo", realm="r", nonce="n", uri="/", response="6629fae49393a05397450978507c4ef1", cnonce="c", nc=00000001, qop=auth';

  it('reads a complete qop=auth response', () => {
    expect(digestCredentials(base)).toMatchObject({ username: 'foo', realm: 'r', nonce: 'n', uri: '/', nc: '00000001', count: 1, cnonce: 'c' });
    expect(digestCredentials(`${base}, algorithm="md5", opaque="x"`)).toBeDefined();
  });

  it.each([
    ['qop=auth-int', base.replace('qop=auth', 'qop=auth-int')],
    ['MD5-sess', `${base}, algorithm=MD5-sess`],
    ['SHA-256', `${base}, algorithm=SHA-256`],
    ['userhash', `${base}, userhash=true`],
    ['no qop (RFC 2069)', base.replace(', qop=auth', '')],
    ['no cnonce', base.replace('cnonce="c", ', '')],
    ['a short nc', base.replace('nc=00000001', 'nc=1')],
    ['a short response', base.replace('response="6629fae49393a05397450978507c4ef1"', 'response="6629"')],
    ['an empty username', base.replace('username="foo"', 'username=""')],
  ])('hostile: %s is not credentials Portico checks', (_name, header) => {
    expect(digestCredentials(header)).toBeUndefined();
  });
});

describe('DigestNonces', () => {
  it('checks its own nonces, constant in form, and refuses another key\'s and tampered ones', () => {
    const nonces = new DigestNonces(REALM, USERS);
    const nonce = nonces.issue(1_700_000_000_000);
    expect(nonce).toMatch(/^[0-9a-f]{60}$/);
    expect(nonces.issued(nonce)).toBe(1_700_000_000_000);
    expect(new DigestNonces(REALM, USERS).issued(nonce)).toBe(1_700_000_000_000);
    expect(new DigestNonces('other', USERS).issued(nonce)).toBeUndefined();
    expect(new DigestNonces(REALM, [{ user: 'foo', ha1: digestHa1('foo', REALM, 'changed') }]).issued(nonce)).toBeUndefined();
    const later = (Number.parseInt(nonce.slice(0, 12), 16) + 60_000).toString(16).padStart(12, '0');
    expect(nonces.issued(later + nonce.slice(12))).toBeUndefined();
    expect(nonces.issued(nonce.toUpperCase())).toBeUndefined();
    expect(nonces.issued(nonce.slice(0, 59))).toBeUndefined();
  });
});

describe('NonceUses', () => {
  it('accepts each nc of a nonce once, in any order, for 10 s after the first use', () => {
    const uses = new NonceUses();
    expect(uses.use('a', 0, 1, 1000)).toBe('ok');
    expect(uses.use('a', 0, 3, 1001)).toBe('ok');
    expect(uses.use('a', 0, 2, 1002)).toBe('ok');
    expect(uses.use('a', 0, 3, 1003)).toBe('replay');
    expect(uses.use('a', 0, 4, 11_000)).toBe('stale');
  });

  it('when full, drops the nonce first used longest ago and never accepts it (or anything issued before it) again', () => {
    const uses = new NonceUses(2);
    expect(uses.use('a', 100, 1, 1000)).toBe('ok');
    expect(uses.use('b', 300, 1, 1001)).toBe('ok');
    expect(uses.use('c', 200, 1, 1002)).toBe('ok');
    expect(uses.size).toBe(2);
    // 'a' was dropped: replaying its nc 1 is refused (stale, so its client takes a new nonce).
    expect(uses.use('a', 100, 1, 1003)).toBe('stale');
    // Never seen, but issued before the dropped one: stale too.
    expect(uses.use('d', 50, 1, 1004)).toBe('stale');
    expect(uses.use('c', 200, 1, 1005)).toBe('replay');
  });

  it('hostile: a flood of nonces stays within the bound', () => {
    const uses = new NonceUses(100);
    for (let i = 0; i < 10_000; i++) uses.use(`n${i}`, i, 1, i);
    expect(uses.size).toBeLessThanOrEqual(100);
  });
});

describe('ClientFailures', () => {
  it('locks an address out after 5 failures for 300 s after the last; a success clears it; bounded', () => {
    const failures = new ClientFailures(3);
    for (let i = 0; i < 4; i++) failures.failed('a', i);
    expect(failures.locked('a', 10)).toBe(false);
    failures.failed('a', 10);
    expect(failures.locked('a', 11)).toBe(true);
    expect(failures.locked('a', 300_009)).toBe(true);
    expect(failures.locked('a', 300_010)).toBe(false);
    failures.succeeded('a');
    expect(failures.locked('a', 12)).toBe(false);
    for (let i = 0; i < 100; i++) failures.failed(`c${i}`, 0);
    expect(failures.locked('c99', 1)).toBe(false);
  });
});

describe('DigestAuthGate', () => {
  const fresh = () => new DigestAuthGate(REALM, USERS, { uses: new NonceUses(), failures: new ClientFailures() });
  const T = 1_700_000_000_000;

  it('challenges as nginx-http-auth-digest does, then lets the right answer through with Authentication-Info', () => {
    const gate = fresh();
    const challenge = gate.challenge(false, T);
    expect(challenge).toMatch(/^Digest realm="test auth", qop="auth", algorithm=MD5, nonce="[0-9a-f]{60}"$/);
    const verdict = gate.check(answer(challenge), 'GET', '/x', '10.0.0.1', T + 5);
    expect(verdict).toMatchObject({ kind: 'allow', info: expect.stringMatching(/^qop=auth, rspauth="[0-9a-f]{32}", cnonce="c0ffee", nc=00000001$/) });
    expect(gate.check(answer(challenge, { nc: 2 }), 'GET', '/x', '10.0.0.1', T + 6).kind).toBe('allow');
  });

  it.each([
    ['a wrong password', { password: 'Secret' }, {}],
    ['an unknown user', { user: 'nobody' }, {}],
    ['another realm', { realm: 'other' }, {}],
    ['a uri that is not the request-target', { uri: '/y' }, {}],
    ['the path without the query', { uri: '/x' }, { target: '/x?a=1' }],
    ['another method', { method: 'POST' }, {}],
    ['nc 0', { nc: 0 }, {}],
  ])('hostile: %s gets a new challenge, not stale', (_name, client, request: { target?: string }) => {
    const gate = fresh();
    const challenge = gate.challenge(false, T);
    expect(gate.check(answer(challenge, client), 'GET', request.target ?? '/x', '10.0.0.1', T + 5)).toEqual({ kind: 'challenge', stale: false });
  });

  it('a replayed nc is refused, not stale; a nonce past 60 s, 10 s after first use or at nc 20 is stale with the right password', () => {
    const gate = fresh();
    const challenge = gate.challenge(false, T);
    expect(gate.check(answer(challenge), 'GET', '/x', 'a', T + 1).kind).toBe('allow');
    expect(gate.check(answer(challenge), 'GET', '/x', 'a', T + 2)).toEqual({ kind: 'challenge', stale: false });
    expect(gate.check(answer(challenge, { nc: 2 }), 'GET', '/x', 'a', T + 10_001)).toEqual({ kind: 'challenge', stale: true });
    const unused = gate.challenge(false, T);
    expect(gate.check(answer(unused), 'GET', '/x', 'a', T + 60_000)).toEqual({ kind: 'challenge', stale: true });
    expect(gate.check(answer(unused, { password: 'wrong' }), 'GET', '/x', 'a', T + 60_000)).toEqual({ kind: 'challenge', stale: false });
    const third = gate.challenge(false, T);
    expect(gate.check(answer(third, { nc: 20 }), 'GET', '/x', 'a', T + 5)).toEqual({ kind: 'challenge', stale: true });
    expect(gate.check(answer(third, { nc: 19 }), 'GET', '/x', 'a', T + 5).kind).toBe('allow');
  });

  it('a non-ASCII user name: the header\'s bytes (read as latin1) are the file\'s UTF-8 name', () => {
    const gate = new DigestAuthGate(REALM, [{ user: 'jörg', ha1: digestHa1('jörg', REALM, 'pw') }], { uses: new NonceUses(), failures: new ClientFailures() });
    const challenge = gate.challenge(false, T);
    const header = answer(challenge, { user: 'jörg', password: 'pw' }).replace('username="jörg"', `username="${Buffer.from('jörg', 'utf8').toString('latin1')}"`);
    expect(gate.check(header, 'GET', '/x', 'a', T + 1).kind).toBe('allow');
  });

  it('a nonce works on another gate of the same realm and users (another worker or node), not on a route with other users', () => {
    const challenge = fresh().challenge(false, T);
    expect(fresh().check(answer(challenge), 'GET', '/x', 'a', T + 1).kind).toBe('allow');
    const other = new DigestAuthGate(REALM, [...USERS, { user: 'bar', ha1: digestHa1('bar', REALM, 'x') }], { uses: new NonceUses(), failures: new ClientFailures() });
    expect(other.check(answer(challenge), 'GET', '/x', 'a', T + 1)).toEqual({ kind: 'challenge', stale: false });
  });

  it('hostile: five failures lock the address out (even with the right password) while others still log in', () => {
    const gate = fresh();
    const challenge = gate.challenge(false, T);
    for (let i = 0; i < 5; i++) gate.check(answer(challenge, { password: 'guess' }), 'GET', '/x', 'attacker', T + i);
    expect(gate.check(answer(challenge), 'GET', '/x', 'attacker', T + 10)).toEqual({ kind: 'locked' });
    expect(gate.check(answer(challenge), 'GET', '/x', 'someone', T + 10).kind).toBe('allow');
    // Headers that are not credentials are not attempts.
    for (let i = 0; i < 10; i++) gate.check('Digest garbage', 'GET', '/x', 'confused', T + i);
    expect(gate.check(answer(challenge, { nc: 2 }), 'GET', '/x', 'confused', T + 20).kind).toBe('allow');
  });
});
