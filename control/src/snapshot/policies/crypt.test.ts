import { describe, expect, it } from 'vitest';
import { hashScheme, verifyPassword } from './crypt.ts';

// Vectors made with `openssl passwd` and the system crypt(3); SHA-crypt's are Drepper's own.
const VECTORS: [string, string, string][] = [
  ['apr1', '$apr1$saltsalt$LrttParrLPdxvgutaSXWJ0', 'secret'],
  ['apr1, non-ASCII password', '$apr1$a$2d01Xy0fbE0vXnDa5etP6/', 'pässwörd'],
  ['md5-crypt', '$1$abc$iCQ2D3nhptRYi27fDYv2s1', 'secret'],
  ['sha256-crypt', '$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5', 'Hello world!'],
  ['sha256-crypt, rounds', '$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA', 'Hello world!'],
  ['sha256-crypt, long password', '$5$rounds=1000$x$Sx4sD5XkP1Byc3X3naY3vkhpjlJeC8mgX9weP024Y58', 'a much longer password than sixteen bytes, really'],
  ['sha512-crypt', '$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1', 'Hello world!'],
  ['sha512-crypt, rounds', '$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.', 'Hello world!'],
  ['sha512-crypt, empty password', '$6$s$.ZBEl9liET9mKM6jGxl//vp8wOnIJwfkp.7sG2Ahu2q68bf4LasDRE6k5T5NPzLqBFx3oUbMl6xWpBsFfgm6..', ''],
  ['{SHA}', '{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=', 'secret'],
  ['{SSHA}', '{SSHA}Wcm1xEisNjqp921ALcHfuQ7avFdzYWx0MTIzNA==', 'secret'],
  ['{PLAIN}', '{PLAIN}secret', 'secret'],
];

describe('verifyPassword', () => {
  it.each(VECTORS)('%s: the right password matches', (_name, hash, password) => {
    expect(hashScheme(hash).ok).toBe(true);
    expect(verifyPassword(hash, password)).toBe(true);
  });

  it.each(VECTORS)('%s: a wrong password does not', (_name, hash, password) => {
    expect(verifyPassword(hash, password + 'x')).toBe(false);
    expect(verifyPassword(hash, 'x' + password.slice(1))).toBe(false);
  });
});

describe('hashScheme refuses what it cannot check, saying why', () => {
  it.each([
    ['$2y$05$abcdefghijklmnopqrstuuLwyVuoaBzFIGgHDkB6NfEMDQmw2EyN.', /bcrypt .* not supported/],
    ['rl2SqJQ5nY4GQ', /traditional DES crypt/],
    ['$apr1$saltsalt$short', /malformed \$apr1\$/],
    ['$1$toolongsalt$iCQ2D3nhptRYi27fDYv2s1', /malformed \$1\$/],
    ['$6$rounds=999999999$salt$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.', /rounds=999999999 is refused/],
    ['$5$salt$tooshort', /malformed \$5\$/],
    ['{SHA}bm90MjBieXRlcw==', /malformed \{SHA\}/],
    ['plaintext-password', /unrecognised/],
    ['', /unrecognised/],
  ])('%j', (hash, reason) => {
    const scheme = hashScheme(hash);
    expect(scheme.ok).toBe(false);
    expect(!scheme.ok && scheme.reason).toMatch(reason);
    expect(verifyPassword(hash, 'anything')).toBe(false);
  });
});
