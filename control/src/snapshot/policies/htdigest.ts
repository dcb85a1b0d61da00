/**
 * The users of `auth-type: digest`: an htdigest file (`auth-secret-type: auth-file`, the Secret's
 * `auth` key), one `user:realm:HA1` line per user, HA1 = MD5(user:realm:password) in lower-case
 * hex, as Apache's `htdigest` writes it and nginx-http-auth-digest (the module ingress-nginx loads
 * for digest) reads it. Pure: every usable entry is kept, every other line is reported, so a line
 * Portico cannot use locks out only its own user, never opens the route.
 *
 * Stricter than the nginx module on one point: the module matches a line's realm against the realm
 * the client *claims*, so a line of another realm still logs in a client that names that realm.
 * Portico keeps only the lines of the route's `auth-realm` and reports the others.
 */
import { MAX_HTPASSWD_USERS } from './htpasswd.ts';
import type { HtpasswdProblem } from './htpasswd.ts';

/** A usable entry: the user and its HA1 (32 lower-case hex digits). */
export interface HtdigestUser {
  readonly user: string;
  readonly ha1: string;
}

/** What a file yields. `users` sorted by name; the first line of a repeated user wins, as in the nginx module. */
export interface HtdigestResult {
  readonly users: readonly HtdigestUser[];
  /** Lines left out, and why (never the HA1). */
  readonly problems: readonly HtpasswdProblem[];
}

const HA1 = /^[0-9a-f]{32}$/;

/**
 * Parses an htdigest file for `realm`: `user:realm:HA1` per line (a fourth `:field` is ignored, as
 * the nginx module does); blank lines and lines starting with `#` are skipped; CR before LF is
 * dropped. At most MAX_HTPASSWD_USERS users.
 */
export function parseHtdigest(text: string, realm: string): HtdigestResult {
  const users = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const fields = line.split(':');
    const number = index + 1;
    if (fields.length < 3) {
      problems.push({ line: number, user: '', reason: 'not user:realm:HA1' });
      return;
    }
    const [user, lineRealm, ha1] = fields as [string, string, string];
    if (user === '') problems.push({ line: number, user, reason: 'empty user name' });
    else if (!HA1.test(ha1)) problems.push({ line: number, user, reason: 'the HA1 is not 32 lower-case hex digits (MD5 of user:realm:password, as htdigest writes it)' });
    else if (lineRealm !== realm) problems.push({ line: number, user, reason: `realm ${JSON.stringify(lineRealm)} is not the auth-realm ${JSON.stringify(realm)}` });
    else if (users.has(user)) problems.push({ line: number, user, reason: 'repeated user; the first entry is used' });
    else if (users.size >= MAX_HTPASSWD_USERS) problems.push({ line: number, user, reason: `more than ${MAX_HTPASSWD_USERS} users` });
    else users.set(user, ha1);
  });
  return { users: [...users.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([user, ha1]) => ({ user, ha1 })), problems };
}
