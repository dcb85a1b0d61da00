/**
 * `auth-type: digest` decided per request: RFC 7616 (RFC 2617's successor) with `qop=auth` and
 * MD5, as nginx-http-auth-digest (atomx v1.0.0, the module ingress-nginx loads for `auth_digest`)
 * answers: a 401 challenge with a fresh nonce, a nonce usable for 60 s after it was issued and for
 * 10 s after its first use, at most 19 requests per nonce (nc 1..19), each nc once; an expired or
 * used-up nonce with the right password gets `stale=true` (clients retry with the new nonce without
 * asking the user again); after 5 failed attempts a client address gets a bare 401 for 300 s.
 *
 * Nonces are stateless so that they work on every worker and node: `issued time · random · MAC`,
 * the MAC an HMAC-SHA-256 under a key derived from the route's realm and user file. Every data
 * plane worker and node computes the same key from the same snapshot, needs no shared secret and
 * no shared store, and a nonce dies with the password file it was issued for. Deriving the key from
 * the HA1s is safe because whoever knows them can authenticate anyway; forging a nonce gains
 * nothing more. The replay record (which nc of which nonce was used) is per worker and bounded:
 * see NonceUses for what it guarantees.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { HtdigestUser } from './htdigest.ts';

/** How long a nonce may wait for its first use (nginx-http-auth-digest `auth_digest_timeout`). */
export const NONCE_TIMEOUT_MS = 60_000;
/** How long a nonce stays usable after its first use (`auth_digest_expires`). */
export const NONCE_EXPIRES_MS = 10_000;
/** nc values 1..NONCE_REPLAYS-1 are accepted; a higher one is stale (`auth_digest_replays`). */
export const NONCE_REPLAYS = 20;
/** Failed attempts from one address before it is ignored (`auth_digest_maxtries`)... */
export const MAX_TRIES = 5;
/** ...for this long after its last failure (`auth_digest_evasion_time`). */
export const EVASION_MS = 300_000;
/** A nonce issued this far in the future is still taken (another node's clock may be ahead). */
const CLOCK_SKEW_MS = 30_000;
/** Longest Authorization header read; longer ones are refused unread. */
export const MAX_DIGEST_HEADER = 4096;
/** Most parameters one header may carry. */
const MAX_PARAMS = 16;

/** The fields of a `Digest` Authorization header Portico checks, already validated in form. */
export interface DigestCredentials {
  readonly username: string;
  readonly realm: string;
  readonly nonce: string;
  readonly uri: string;
  /** Lower-case hex, 32 digits. */
  readonly response: string;
  readonly cnonce: string;
  /** As sent (8 hex digits); the hash covers the text. */
  readonly nc: string;
  readonly count: number;
}

/** 1 at the char codes of `tchar` (RFC 9110 §5.6.2); built once, so the per-request scan allocates nothing. */
const TCHAR = new Uint8Array(0x80);
for (let code = 0x21; code < 0x7f; code++) {
  if ((code >= 0x30 && code <= 0x39) || (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(code))) TCHAR[code] = 1;
}
const isTchar = (code: number): boolean => TCHAR[code] === 1;
/** qdtext (RFC 9110): HTAB, SP, VCHAR but `"` and `\`, obs-text. */
const isQdtext = (code: number): boolean => code === 0x09 || (code >= 0x20 && code !== 0x22 && code !== 0x5c && code !== 0x7f && code <= 0xff);
/** What may follow `\` in a quoted-pair: HTAB, SP, VCHAR, obs-text. */
const isQuotable = (code: number): boolean => code === 0x09 || (code >= 0x20 && code !== 0x7f && code <= 0xff);

/**
 * The auth-params of a `Digest` credentials header (RFC 9110 §11: `Digest 1*SP #auth-param`, each
 * `token BWS = BWS (token | quoted-string)`), names lower-cased, quoted-pairs unescaped. Undefined
 * for anything else: another scheme, a header longer than MAX_DIGEST_HEADER, a parameter named
 * twice, more than 16 parameters, an unterminated quoted string, a control character, a stray
 * character between parameters.
 */
export function digestParams(header: string | undefined): Map<string, string> | undefined {
  if (header === undefined || header.length > MAX_DIGEST_HEADER) return undefined;
  const scheme = /^digest +/i.exec(header);
  if (scheme === null) return undefined;
  const params = new Map<string, string>();
  const n = header.length;
  let i = scheme[0].length;
  const skipWhitespace = () => {
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09)) i++;
  };
  for (;;) {
    // Empty list elements (",,") are allowed, as RFC 9110 §5.6.1 asks of recipients.
    while (i < n && (header.charCodeAt(i) === 0x20 || header.charCodeAt(i) === 0x09 || header.charCodeAt(i) === 0x2c)) i++;
    if (i >= n) break;
    const nameStart = i;
    while (i < n && isTchar(header.charCodeAt(i))) i++;
    if (i === nameStart) return undefined;
    const name = header.slice(nameStart, i).toLowerCase();
    skipWhitespace();
    if (header.charCodeAt(i) !== 0x3d) return undefined;
    i++;
    skipWhitespace();
    let value: string;
    if (header.charCodeAt(i) === 0x22) {
      i++;
      const parts: string[] = [];
      let runStart = i;
      for (;;) {
        if (i >= n) return undefined;
        const code = header.charCodeAt(i);
        if (code === 0x22) break;
        if (code === 0x5c) {
          if (i + 1 >= n || !isQuotable(header.charCodeAt(i + 1))) return undefined;
          parts.push(header.slice(runStart, i), header[i + 1]!);
          i += 2;
          runStart = i;
          continue;
        }
        if (!isQdtext(code)) return undefined;
        i++;
      }
      parts.push(header.slice(runStart, i));
      i++;
      value = parts.join('');
    } else {
      const valueStart = i;
      while (i < n && isTchar(header.charCodeAt(i))) i++;
      if (i === valueStart) return undefined;
      value = header.slice(valueStart, i);
    }
    if (params.has(name) || params.size >= MAX_PARAMS) return undefined;
    params.set(name, value);
    skipWhitespace();
    if (i < n && header.charCodeAt(i) !== 0x2c) return undefined;
  }
  return params;
}

/**
 * The credentials of a `Digest` Authorization header when it is one Portico can check: every field
 * of a `qop=auth` response present, `algorithm` absent or MD5, `nc` 8 hex digits, `response` 32.
 * Undefined otherwise (`qop=auth-int`, `MD5-sess`, SHA-256, `userhash=true`, a missing field, or
 * digestParams refusing the header): the client is challenged again.
 */
export function digestCredentials(header: string | undefined): DigestCredentials | undefined {
  const params = digestParams(header);
  if (params === undefined) return undefined;
  const get = (name: string) => params.get(name);
  const [username, realm, nonce, uri, response, cnonce, nc, qop] = ['username', 'realm', 'nonce', 'uri', 'response', 'cnonce', 'nc', 'qop'].map(get);
  if (username === undefined || realm === undefined || nonce === undefined || uri === undefined || response === undefined || cnonce === undefined || nc === undefined || qop === undefined) return undefined;
  if (username === '' || cnonce === '' || uri === '' || qop !== 'auth') return undefined;
  const algorithm = get('algorithm');
  if (algorithm !== undefined && algorithm.toLowerCase() !== 'md5') return undefined;
  if (get('userhash')?.toLowerCase() === 'true') return undefined;
  if (!/^[0-9a-fA-F]{8}$/.test(nc) || !/^[0-9a-fA-F]{32}$/.test(response)) return undefined;
  return { username, realm, nonce, uri, response: response.toLowerCase(), cnonce, nc, count: Number.parseInt(nc, 16) };
}

const md5 = (text: string): string => createHash('md5').update(text, 'latin1').digest('hex');

/** The `response` a client computes: MD5(HA1:nonce:nc:cnonce:auth:MD5(method:uri)). */
export function digestResponse(ha1: string, method: string, credentials: Pick<DigestCredentials, 'nonce' | 'nc' | 'cnonce' | 'uri'>): string {
  return md5(`${ha1}:${credentials.nonce}:${credentials.nc}:${credentials.cnonce}:auth:${md5(`${method}:${credentials.uri}`)}`);
}

/** HA1 as htdigest writes it: MD5(user:realm:password). */
export function digestHa1(user: string, realm: string, password: string): string {
  return createHash('md5').update(`${user}:${realm}:${password}`, 'utf8').digest('hex');
}

const quote = (text: string): string => `"${text.replace(/["\\]/g, '\\$&')}"`;

/** Issues and checks the stateless nonces of one realm and user file. */
export class DigestNonces {
  readonly #key: Buffer;

  /** The key is derived from `realm` and every user's HA1 (see the file comment). */
  constructor(realm: string, users: readonly HtdigestUser[]) {
    const hash = createHash('sha256').update('portico digest nonce v1\0').update(realm, 'latin1').update('\0');
    for (const { user, ha1 } of users) hash.update(`${user}:${ha1}\n`, 'latin1');
    this.#key = hash.digest();
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(body).digest('hex').slice(0, 32);
  }

  /** A new nonce: 12 hex digits of issue time (ms), 16 of randomness, 32 of MAC. */
  issue(now: number): string {
    const body = Math.max(0, Math.floor(now)).toString(16).padStart(12, '0').slice(-12) + randomBytes(8).toString('hex');
    return body + this.#mac(body);
  }

  /** The issue time of `nonce` when this realm and user file issued it; undefined otherwise. Constant-time in the MAC. */
  issued(nonce: string): number | undefined {
    if (nonce.length !== 60 || !/^[0-9a-f]{60}$/.test(nonce)) return undefined;
    const body = nonce.slice(0, 28);
    if (!timingSafeEqual(Buffer.from(this.#mac(body), 'latin1'), Buffer.from(nonce.slice(28), 'latin1'))) return undefined;
    return Number.parseInt(nonce.slice(0, 12), 16);
  }
}

/** What a nonce use is: the first of its nc, an nc used before, or too late. */
export type NonceUse = 'ok' | 'replay' | 'stale';

/**
 * The nc values used per nonce, in one worker, at most `capacity` nonces. What it guarantees:
 * within one worker a (nonce, nc) pair is accepted at most once, always, and a nonce stops being
 * accepted 10 s after its first use there. When the table is full the nonce first used longest ago
 * is dropped and every nonce issued no later than it that is not in the table counts as stale from
 * then on, so a dropped nonce can never be used again (its client gets `stale=true` and retries with
 * a new nonce, without asking the user). Across workers and nodes the record is not shared: a
 * request copied off the wire can be replayed at most once per other worker, within the nonce's
 * 60 s, as with ingress-nginx across its replicas (whose nonces do not even work on another replica).
 */
export class NonceUses {
  readonly #entries = new Map<string, { readonly issued: number; readonly expires: number; used: number }>();
  readonly #capacity: number;
  #floor = -1;

  constructor(capacity = 20_000) {
    this.#capacity = capacity;
  }

  /** Nonces held now. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records the use of `nc` (1..NONCE_REPLAYS-1) of `nonce`, issued at `issued`. */
  use(nonce: string, issued: number, nc: number, now: number): NonceUse {
    this.#sweep(now);
    const bit = 1 << nc;
    const entry = this.#entries.get(nonce);
    if (entry !== undefined) {
      if (now >= entry.expires) return 'stale';
      if ((entry.used & bit) !== 0) return 'replay';
      entry.used |= bit;
      return 'ok';
    }
    if (issued <= this.#floor) return 'stale';
    if (this.#entries.size >= this.#capacity) {
      const [oldest, dropped] = this.#entries.entries().next().value!;
      this.#entries.delete(oldest);
      this.#floor = Math.max(this.#floor, dropped.issued);
      if (issued <= this.#floor) return 'stale';
    }
    this.#entries.set(nonce, { issued, expires: Math.min(issued + NONCE_TIMEOUT_MS, now + NONCE_EXPIRES_MS), used: bit });
    return 'ok';
  }

  /**
   * Drops entries from the front (first used longest ago) whose nonce is past its 60 s, when the
   * issue-time check refuses it anyway; bounded work per call.
   */
  #sweep(now: number): void {
    let budget = 32;
    for (const [nonce, entry] of this.#entries) {
      if (budget-- === 0 || entry.issued + NONCE_TIMEOUT_MS > now) return;
      this.#entries.delete(nonce);
    }
  }
}

/**
 * Failed attempts per client address in one worker (nginx-http-auth-digest's evasion): after
 * MAX_TRIES failures, each within EVASION_MS of the previous one, the address gets a bare 401 until
 * EVASION_MS after its last failure; a success clears it. At most `capacity` addresses: when full,
 * the one that failed longest ago is forgotten.
 */
export class ClientFailures {
  readonly #entries = new Map<string, { fails: number; until: number }>();
  readonly #capacity: number;

  constructor(capacity = 10_000) {
    this.#capacity = capacity;
  }

  /** Whether `client` is being ignored now. */
  locked(client: string, now: number): boolean {
    const entry = this.#entries.get(client);
    return entry !== undefined && entry.fails >= MAX_TRIES && now < entry.until;
  }

  failed(client: string, now: number): void {
    const entry = this.#entries.get(client);
    const fails = entry !== undefined && now <= entry.until ? entry.fails + 1 : 1;
    this.#entries.delete(client);
    if (this.#entries.size >= this.#capacity) this.#entries.delete(this.#entries.keys().next().value!);
    this.#entries.set(client, { fails, until: now + EVASION_MS });
  }

  succeeded(client: string): void {
    this.#entries.delete(client);
  }
}

/** The replay record and failure counts of this worker (process), shared by every digest route and kept across snapshot loads. */
const WORKER_NONCE_USES = new NonceUses();
const WORKER_FAILURES = new ClientFailures();

/** What a request gets: through (with the Authentication-Info value), a challenge (stale or not), or a bare 401. */
export type DigestVerdict = { readonly kind: 'allow'; readonly info: string } | { readonly kind: 'challenge'; readonly stale: boolean } | { readonly kind: 'locked' };

/** Stands in for an unknown user, so that the time of a refusal does not tell whether the user exists. */
const NO_USER_HA1 = '0'.repeat(32);

/** The users and nonces of one digest route, ready for requests. */
export class DigestAuthGate {
  readonly realm: string;
  readonly #users: ReadonlyMap<string, string>;
  readonly #nonces: DigestNonces;
  readonly #uses: NonceUses;
  readonly #failures: ClientFailures;

  /** `uses` and `failures` default to the worker's own tables. */
  constructor(realm: string, users: readonly HtdigestUser[], tables: { readonly uses?: NonceUses; readonly failures?: ClientFailures } = {}) {
    this.realm = realm;
    this.#users = new Map(users.map((entry) => [entry.user, entry.ha1]));
    this.#nonces = new DigestNonces(realm, users);
    this.#uses = tables.uses ?? WORKER_NONCE_USES;
    this.#failures = tables.failures ?? WORKER_FAILURES;
  }

  /** The WWW-Authenticate value of a new challenge. */
  challenge(stale: boolean, now: number): string {
    return `Digest realm=${quote(this.realm)}, qop="auth", algorithm=MD5, nonce="${this.#nonces.issue(now)}"${stale ? ', stale=true' : ''}`;
  }

  /**
   * Decides a request with Authorization `header`, `method` and request-target `target` from
   * `client`. The digest's `uri` must be the request-target exactly.
   */
  check(header: string | undefined, method: string, target: string, client: string, now: number): DigestVerdict {
    if (this.#failures.locked(client, now)) return { kind: 'locked' };
    const credentials = digestCredentials(header);
    // No (usable) credentials: a first challenge, not a failed attempt (as the nginx module).
    if (credentials === undefined) return { kind: 'challenge', stale: false };
    const fail = (): DigestVerdict => {
      this.#failures.failed(client, now);
      return { kind: 'challenge', stale: false };
    };
    const issued = this.#nonces.issued(credentials.nonce);
    if (credentials.realm !== this.realm || credentials.uri !== target || issued === undefined) return fail();
    // Header text is bytes read as latin1; the user file was decoded as UTF-8: compare the same bytes.
    const ha1 = this.#users.get(Buffer.from(credentials.username, 'latin1').toString('utf8'));
    const expected = Buffer.from(digestResponse(ha1 ?? NO_USER_HA1, method, credentials), 'latin1');
    if (!timingSafeEqual(expected, Buffer.from(credentials.response, 'latin1')) || ha1 === undefined) return fail();
    // The password is right from here on; what is left is whether this nonce may still be used.
    const age = now - issued;
    if (age >= NONCE_TIMEOUT_MS || age < -CLOCK_SKEW_MS || credentials.count >= NONCE_REPLAYS) return { kind: 'challenge', stale: true };
    if (credentials.count === 0) return fail();
    const use = this.#uses.use(credentials.nonce, issued, credentials.count, now);
    if (use === 'replay') return fail();
    if (use === 'stale') return { kind: 'challenge', stale: true };
    this.#failures.succeeded(client);
    // rspauth is the response computed with an empty method (RFC 7616 §3.5).
    const rspauth = digestResponse(ha1, '', credentials);
    return { kind: 'allow', info: `qop=auth, rspauth="${rspauth}", cnonce=${quote(credentials.cnonce)}, nc=${credentials.nc}` };
  }
}
