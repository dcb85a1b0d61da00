/**
 * `auth-type: basic` decided per request: the Authorization header checked against the users of
 * the route's htpasswd data, and ingress-nginx's answer when it fails (401 with
 * `WWW-Authenticate: Basic realm="<auth-realm>"`, nginx's auth_basic). Pure apart from a bounded
 * cache of credentials already verified, so a client that sends the same good header on every
 * request pays for the (deliberately slow) hash once.
 */
import { createHash } from 'node:crypto';
import { verifyPassword } from './crypt.ts';
import type { HtpasswdUser } from './htpasswd.ts';

/** Credentials checked and found good, remembered at most. */
const CACHE_SIZE = 1024;

/** Characters allowed in `auth-realm`: it is sent inside a quoted string. */
export const REALM = /^[\x20-\x7e]{0,256}$/;

/** The user and password of a `Basic` Authorization header, or undefined when it is not one. */
export function basicCredentials(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined) return undefined;
  const match = /^basic[ \t]+([A-Za-z0-9+/]+={0,2})[ \t]*$/i.exec(header);
  if (match === null || match[1]!.length % 4 !== 0) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The value of WWW-Authenticate for `realm` (already checked against REALM). */
export function basicChallenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '\\$&')}"`;
}

/** The users of one route, ready for requests. */
export class BasicAuthGate {
  readonly #users: ReadonlyMap<string, string>;
  readonly #verified = new Set<string>();

  constructor(users: readonly HtpasswdUser[]) {
    this.#users = new Map(users.map((entry) => [entry.user, entry.hash]));
  }

  /** Whether the Authorization header carries a known user with its password. */
  allows(authorization: string | undefined): boolean {
    const credentials = basicCredentials(authorization);
    if (credentials === undefined) return false;
    const hash = this.#users.get(credentials.user);
    if (hash === undefined) return false;
    const key = createHash('sha256').update(authorization!).digest('base64');
    if (this.#verified.has(key)) return true;
    if (!verifyPassword(hash, credentials.password)) return false;
    if (this.#verified.size >= CACHE_SIZE) this.#verified.clear();
    this.#verified.add(key);
    return true;
  }
}
