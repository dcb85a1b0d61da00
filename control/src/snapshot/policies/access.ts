/**
 * Who may reach a route, as ingress-nginx's access phase decides it:
 *
 * - `allowlist-source-range` (older name `whitelist-source-range`), `denylist-source-range`:
 *   clients outside the allowed networks, or inside the denied ones, get 403
 *   (test/e2e/annotations/ipallowlist.go, ipdenylist.go). A denied network wins (ingress-nginx
 *   writes the `deny` lines first). The client address is the socket peer or, for a trusted
 *   proxy, the client its X-Forwarded-For chain names (nginx's realip module).
 * - `auth-type: basic` + `auth-secret` (+ `auth-secret-type: auth-file`, `auth-realm`): a request
 *   without a known user and password gets 401 with `WWW-Authenticate: Basic realm="…"`
 *   (test/e2e/annotations/auth.go). The Secret must be in the Ingress's namespace (`name`, or
 *   `namespace/name` naming that namespace; ingress-nginx's default since cross-namespace
 *   references became opt-in); its `auth` key is an htpasswd file.
 * - `auth-type: digest`: the same Secret holds an htdigest file (`user:realm:HA1`); requests are
 *   checked as nginx-http-auth-digest does (digest-auth.ts). `auth-realm` must be set: the module
 *   turns digest off for an empty realm (and for `off`), which would serve the route open.
 * - Both: the Authorization header is not forwarded (ingress-nginx writes
 *   `proxy_set_header Authorization ""` into every location with basic or digest auth).
 * - `satisfy: any`: either is enough (nginx's `satisfy any`); `all` (default) needs both.
 *
 * Fail closed: an unreadable list, a missing Secret or `auth` key, a digest route without a realm,
 * `auth-secret-type: auth-map` or an unknown `satisfy` refuses the Ingress (503, Error condition
 * naming the annotation), never serving it open. htpasswd entries Portico cannot check (bcrypt,
 * DES) and htdigest lines it cannot use are left out with a Warning each: only their users are
 * locked out.
 */
import { BasicAuthGate, REALM, basicChallenge } from './basic-auth.ts';
import { CidrSet, parseCidrList } from './cidr.ts';
import { DigestAuthGate } from './digest-auth.ts';
import { parseHtdigest } from './htdigest.ts';
import { parseHtpasswd } from './htpasswd.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** A route's access rules. CIDRs sorted; users sorted by name. */
export interface AccessData {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly basic?: { readonly realm: string; readonly users: readonly { readonly user: string; readonly hash: string }[] };
  /** `auth-type: digest`: the realm and the users of its htdigest lines, HA1 = MD5(user:realm:password). */
  readonly digest?: { readonly realm: string; readonly users: readonly { readonly user: string; readonly ha1: string }[] };
  readonly satisfyAny: boolean;
}

function readList(reader: AnnotationReader, name: string): readonly string[] | undefined {
  const raw = reader.raw(name);
  if (raw === undefined) return undefined;
  const parsed = parseCidrList(raw);
  if (parsed.ok) return parsed.cidrs;
  reader.refuse(name, `not an IPv4/IPv6 address or CIDR: ${parsed.invalid.join(', ')}`);
  return undefined;
}

type AuthData = Pick<AccessData, 'basic' | 'digest'>;

function readAuth(reader: AnnotationReader): AuthData | 'refused' | undefined {
  const type = reader.string('auth-type');
  if (type === undefined) {
    if (reader.raw('auth-secret') !== undefined) reader.refuse('auth-secret', 'set without auth-type; ingress-nginx applies no authentication then, and Portico refuses to guess');
    return reader.raw('auth-secret') === undefined ? undefined : 'refused';
  }
  if (type !== 'basic' && type !== 'digest') {
    reader.refuse('auth-type', `${JSON.stringify(type)} is not basic or digest`);
    return 'refused';
  }
  const secretType = reader.string('auth-secret-type') ?? 'auth-file';
  if (secretType !== 'auth-file') {
    const format = type === 'digest' ? 'an htdigest file (user:realm:HA1 lines)' : 'an htpasswd file';
    const map = type === 'digest' ? ' (for digest, ingress-nginx writes each key and value as one `user:value` line, so each value would be `realm:HA1`)' : '';
    reader.refuse('auth-secret-type', secretType === 'auth-map' ? `auth-map is not supported by Portico (it would need every key of the Secret)${map}; put ${format} under the \`auth\` key and use auth-file` : `${JSON.stringify(secretType)} is not auth-file or auth-map`);
    return 'refused';
  }
  const realm = reader.raw('auth-realm') ?? '';
  if (!REALM.test(realm)) {
    reader.refuse('auth-realm', 'must be at most 256 printable ASCII characters');
    return 'refused';
  }
  if (type === 'digest' && (realm === '' || realm === 'off')) {
    reader.refuse('auth-realm', `auth-type: digest needs a realm (the realm of the htdigest lines); ingress-nginx's digest module switches authentication off for ${realm === '' ? 'an empty realm' : 'the realm "off"'} and would serve the route open`);
    return 'refused';
  }
  const name = reader.localReference('auth-secret', 'Secret');
  if (name === 'refused') return 'refused';
  if (name === undefined) {
    reader.refuse('auth-secret', `auth-type: ${type} needs auth-secret (the Secret holding the password file)`);
    return 'refused';
  }
  const namespace = reader.namespace;
  const file = reader.secretAuth(name);
  if (file === undefined) {
    reader.refuse('auth-secret', `Secret ${namespace}/${name} not found, or it has no \`auth\` key`);
    return 'refused';
  }
  const digest = type === 'digest' ? parseHtdigest(file, realm) : undefined;
  const basic = type === 'basic' ? parseHtpasswd(file) : undefined;
  for (const problem of (digest ?? basic)!.problems) reader.warn('auth-secret', `Secret ${namespace}/${name} key auth line ${problem.line}${problem.user === '' ? '' : ` (user ${JSON.stringify(problem.user)})`}: ${problem.reason}; that entry is left out (its user cannot log in)`);
  return digest !== undefined ? { digest: { realm, users: digest.users } } : { basic: { realm, users: basic!.users } };
}

/** Pure: whether `client` passes the source ranges. */
export function sourceAllowed(allow: CidrSet | undefined, deny: CidrSet | undefined, client: string): boolean {
  if (deny !== undefined && deny.has(client)) return false;
  return allow === undefined || allow.has(client);
}

const FORBIDDEN = { status: 403, headers: [] } as const;
const UNAUTHORIZED = { status: 401, headers: [] } as const;

/** The access module. */
export const accessModule: PolicyModule<AccessData> = {
  key: 'access',
  phase: 'access',
  annotations: [
    { name: 'allowlist-source-range', support: 'honoured', note: 'clients outside the CIDRs get 403; an invalid entry refuses the Ingress (503) rather than serving it open' },
    { name: 'whitelist-source-range', support: 'honoured', note: 'the older name of allowlist-source-range; allowlist-source-range wins when both are set' },
    { name: 'denylist-source-range', support: 'honoured', note: 'clients inside the CIDRs get 403 (checked before the allowlist)' },
    { name: 'auth-type', support: 'approximated', note: 'basic: 401 with WWW-Authenticate unless a user of the htpasswd file authenticates; digest: RFC 7616 MD5 qop=auth as nginx-http-auth-digest (60 s / 10 s nonces, nc 1..19 once each, stale=true, 5 failures -> 300 s bare 401), with stateless signed nonces valid on every worker and node; the replay record and failure counts are per worker; the Authorization header is not forwarded' },
    { name: 'auth-secret', support: 'approximated', note: 'the Secret (same namespace only) whose `auth` key is an htpasswd file (basic: apr1, $1$, $5$, $6$, {SHA}, {SSHA}, {PLAIN}; bcrypt and DES entries are left out with a Warning) or an htdigest file (digest: user:realm:HA1; lines of another realm are left out with a Warning)' },
    { name: 'auth-secret-type', support: 'approximated', note: 'auth-file only; auth-map refuses the Ingress (503)' },
    { name: 'auth-realm', support: 'approximated', note: 'the realm of WWW-Authenticate (basic: default empty); digest needs one (empty or "off" refuses the Ingress: ingress-nginx would serve it open)' },
    { name: 'satisfy', support: 'honoured', note: 'any: the source range or the password is enough; all (default): both' },
  ],
  schema: (z) => {
    const cidrEntry = z.string().refine((entry) => typeof CidrSet.of([entry]) !== 'string', 'not an address or CIDR');
    return z.strictObject({
      allow: z.array(cidrEntry),
      deny: z.array(cidrEntry),
      basic: z.strictObject({ realm: z.string().regex(REALM), users: z.array(z.strictObject({ user: z.string().min(1), hash: z.string().min(1) })) }).optional(),
      // ha1 is any text here: the build writes 32 hex digits, an export's redacted copy a fingerprint (and the API's export schema is this one).
      digest: z.strictObject({ realm: z.string().min(1).regex(REALM), users: z.array(z.strictObject({ user: z.string().min(1).regex(/^[^:\n]*$/), ha1: z.string().min(1) })) }).optional(),
      satisfyAny: z.boolean(),
    });
  },
  read(reader) {
    const allowlist = readList(reader, 'allowlist-source-range');
    const whitelist = readList(reader, 'whitelist-source-range');
    const deny = readList(reader, 'denylist-source-range') ?? [];
    if (allowlist !== undefined && whitelist !== undefined) reader.warn('whitelist-source-range', 'allowlist-source-range is set too and wins; whitelist-source-range is not used');
    const allow = allowlist ?? whitelist ?? [];
    const auth = readAuth(reader);
    const satisfy = reader.string('satisfy')?.toLowerCase();
    if (satisfy !== undefined && satisfy !== 'any' && satisfy !== 'all') reader.refuse('satisfy', `${JSON.stringify(reader.raw('satisfy'))} is not any or all`);
    if (auth === 'refused' || (allow.length === 0 && deny.length === 0 && auth === undefined)) return undefined;
    return { allow, deny, ...auth, satisfyAny: satisfy === 'any' };
  },
  prepare(data) {
    const allow = data.allow.length === 0 ? undefined : (CidrSet.of(data.allow) as CidrSet);
    const deny = data.deny.length === 0 ? undefined : (CidrSet.of(data.deny) as CidrSet);
    const ranged = allow !== undefined || deny !== undefined;
    const basic = data.basic === undefined ? undefined : new BasicAuthGate(data.basic.users);
    const basicAnswer = data.basic === undefined ? undefined : { status: 401, headers: [['WWW-Authenticate', basicChallenge(data.basic.realm)]] as const };
    const digest = data.digest === undefined ? undefined : new DigestAuthGate(data.digest.realm, data.digest.users);
    /** Whether the request passes the password check; when not, the answer is set. */
    const authenticate = (facts: RequestFacts, outcome: PolicyOutcome): boolean => {
      if (basic !== undefined) {
        if (basic.allows(facts.header('authorization'))) return true;
        outcome.answer = basicAnswer;
        return false;
      }
      const now = Date.now();
      const verdict = digest!.check(facts.header('authorization'), facts.method, facts.target, facts.client, now);
      if (verdict.kind === 'allow') {
        outcome.responseAdd.push(['Authentication-Info', verdict.info]);
        return true;
      }
      // An address past its tries gets a bare 401, as nginx-http-auth-digest's evasion answers.
      outcome.answer = verdict.kind === 'locked' ? UNAUTHORIZED : { status: 401, headers: [['WWW-Authenticate', digest!.challenge(verdict.stale, now)]] };
      return false;
    };
    const authenticated = basic !== undefined || digest !== undefined;
    return (facts, outcome) => {
      const sourceOk = !ranged || sourceAllowed(allow, deny, facts.client);
      // ingress-nginx clears Authorization in every location with basic or digest auth, however access was granted.
      if (authenticated) outcome.removeHeaders.push('authorization');
      // satisfy any: one passing check is enough; only the checks the route has count.
      if (data.satisfyAny && ranged && sourceOk) return;
      if (!data.satisfyAny && !sourceOk) {
        outcome.answer = FORBIDDEN;
        return;
      }
      if (!authenticated) {
        if (!sourceOk) outcome.answer = FORBIDDEN;
        return;
      }
      authenticate(facts, outcome);
    };
  },
  describe(data) {
    const parts: string[] = [];
    if (data.allow.length !== 0) parts.push(`clients outside ${data.allow.join(', ')} get 403`);
    if (data.deny.length !== 0) parts.push(`clients inside ${data.deny.join(', ')} get 403`);
    if (data.basic !== undefined) parts.push(`basic authentication (realm ${JSON.stringify(data.basic.realm)}, ${data.basic.users.length} users), else 401`);
    if (data.digest !== undefined) parts.push(`digest authentication (MD5, qop=auth, realm ${JSON.stringify(data.digest.realm)}, ${data.digest.users.length} users), else 401`);
    return parts.join('; ') + (data.satisfyAny && parts.length > 1 ? ' (satisfy any: one is enough)' : '');
  },
};
