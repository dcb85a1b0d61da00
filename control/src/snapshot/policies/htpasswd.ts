/**
 * The users of `auth-type: basic`: an htpasswd file (`auth-secret-type: auth-file`, the Secret's
 * `auth` key) or a map of user to hash (`auth-map`, one Secret key per user), as ingress-nginx
 * reads them. Pure: parsing keeps every usable entry and reports every other one, so an entry
 * Portico cannot check locks out only its own user, never opens the route.
 */
import { hashScheme } from './crypt.ts';

/** A usable entry: the user and its password hash. */
export interface HtpasswdUser {
  readonly user: string;
  readonly hash: string;
}

/** An entry that was left out, and why (never contains the hash). */
export interface HtpasswdProblem {
  /** 1-based line of the file, or 0 for an auth-map key. */
  readonly line: number;
  readonly user: string;
  readonly reason: string;
}

/** What a file or map yields. `users` sorted by name; the first entry of a repeated user wins, as in nginx. */
export interface HtpasswdResult {
  readonly users: readonly HtpasswdUser[];
  readonly problems: readonly HtpasswdProblem[];
}

/** Most entries one Secret may hold. */
export const MAX_HTPASSWD_USERS = 10_000;

function collect(entries: readonly { line: number; user: string; hash: string }[]): HtpasswdResult {
  const users = new Map<string, string>();
  const problems: HtpasswdProblem[] = [];
  for (const { line, user, hash } of entries) {
    if (user === '') problems.push({ line, user, reason: 'empty user name' });
    else if (users.has(user)) problems.push({ line, user, reason: 'repeated user; the first entry is used' });
    else if (users.size >= MAX_HTPASSWD_USERS) problems.push({ line, user, reason: `more than ${MAX_HTPASSWD_USERS} users` });
    else {
      const scheme = hashScheme(hash);
      if (scheme.ok) users.set(user, hash);
      else problems.push({ line, user, reason: scheme.reason });
    }
  }
  return {
    users: [...users.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([user, hash]) => ({ user, hash })),
    problems,
  };
}

/**
 * Parses an htpasswd file: `user:hash` per line (an optional third `:field` is ignored, as nginx
 * does); blank lines and lines starting with `#` are skipped; CR before LF is dropped.
 */
export function parseHtpasswd(text: string): HtpasswdResult {
  const entries: { line: number; user: string; hash: string }[] = [];
  const problems: HtpasswdProblem[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '' || line.startsWith('#')) return;
    const colon = line.indexOf(':');
    if (colon < 0) {
      problems.push({ line: index + 1, user: '', reason: 'not user:hash' });
      return;
    }
    const rest = line.slice(colon + 1);
    const end = rest.indexOf(':');
    entries.push({ line: index + 1, user: line.slice(0, colon), hash: end < 0 ? rest : rest.slice(0, end) });
  });
  const collected = collect(entries);
  return { users: collected.users, problems: [...problems, ...collected.problems].sort((a, b) => a.line - b.line) };
}

/** Parses an auth-map: each key a user, each value its hash (surrounding whitespace dropped). */
export function parseAuthMap(map: Readonly<Record<string, string>>): HtpasswdResult {
  return collect(
    Object.keys(map)
      .sort()
      .map((user) => ({ line: 0, user, hash: map[user]!.trim() })),
  );
}
