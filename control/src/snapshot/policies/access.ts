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
 * - `satisfy: any`: either is enough (nginx's `satisfy any`); `all` (default) needs both.
 *
 * Fail closed: an unreadable list, a missing Secret or `auth` key, `auth-type: digest`,
 * `auth-secret-type: auth-map` or an unknown `satisfy` refuses the Ingress (503, Error condition
 * naming the annotation), never serving it open. htpasswd entries Portico cannot check (bcrypt,
 * DES) are left out with a Warning each: only their users are locked out.
 */
import { z } from 'zod';
import { BasicAuthGate, REALM, basicChallenge } from './basic-auth.ts';
import { CidrSet, parseCidrList } from './cidr.ts';
import { parseHtpasswd } from './htpasswd.ts';
import type { AnnotationReader, PolicyModule } from './module.ts';

/** A route's access rules. CIDRs sorted; users sorted by name. */
export interface AccessData {
  readonly allow: readonly string[];
  readonly deny: readonly string[];
  readonly basic?: { readonly realm: string; readonly users: readonly { readonly user: string; readonly hash: string }[] };
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

function readBasic(reader: AnnotationReader): AccessData['basic'] | 'refused' | undefined {
  const type = reader.string('auth-type');
  if (type === undefined) {
    if (reader.raw('auth-secret') !== undefined) reader.refuse('auth-secret', 'set without auth-type; ingress-nginx applies no authentication then, and Portico refuses to guess');
    return reader.raw('auth-secret') === undefined ? undefined : 'refused';
  }
  if (type !== 'basic') {
    reader.refuse('auth-type', type === 'digest' ? 'digest authentication is not supported by Portico' : `${JSON.stringify(type)} is not basic or digest`);
    return 'refused';
  }
  const secretType = reader.string('auth-secret-type') ?? 'auth-file';
  if (secretType !== 'auth-file') {
    reader.refuse('auth-secret-type', secretType === 'auth-map' ? 'auth-map is not supported by Portico (it would need every key of the Secret); put an htpasswd file under the `auth` key and use auth-file' : `${JSON.stringify(secretType)} is not auth-file or auth-map`);
    return 'refused';
  }
  const realm = reader.raw('auth-realm') ?? '';
  if (!REALM.test(realm)) {
    reader.refuse('auth-realm', 'must be at most 256 printable ASCII characters');
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
  const parsed = parseHtpasswd(file);
  for (const problem of parsed.problems) reader.warn('auth-secret', `Secret ${namespace}/${name} key auth line ${problem.line}${problem.user === '' ? '' : ` (user ${JSON.stringify(problem.user)})`}: ${problem.reason}; that entry is left out (its user cannot log in)`);
  return { realm, users: parsed.users };
}

/** Pure: whether `client` passes the source ranges. */
export function sourceAllowed(allow: CidrSet | undefined, deny: CidrSet | undefined, client: string): boolean {
  if (deny !== undefined && deny.has(client)) return false;
  return allow === undefined || allow.has(client);
}

const FORBIDDEN = { status: 403, headers: [] } as const;

const CidrEntry = z.string().refine((entry) => typeof CidrSet.of([entry]) !== 'string', 'not an address or CIDR');

/** The access module. */
export const accessModule: PolicyModule<AccessData> = {
  key: 'access',
  phase: 'access',
  annotations: [
    { name: 'allowlist-source-range', support: 'honoured', note: 'clients outside the CIDRs get 403; an invalid entry refuses the Ingress (503) rather than serving it open' },
    { name: 'whitelist-source-range', support: 'honoured', note: 'the older name of allowlist-source-range; allowlist-source-range wins when both are set' },
    { name: 'denylist-source-range', support: 'honoured', note: 'clients inside the CIDRs get 403 (checked before the allowlist)' },
    { name: 'auth-type', support: 'approximated', note: 'basic: 401 with WWW-Authenticate unless a user of the htpasswd file authenticates; digest is refused (503)' },
    { name: 'auth-secret', support: 'approximated', note: 'the Secret (same namespace only) whose `auth` key is an htpasswd file: apr1, $1$, $5$, $6$, {SHA}, {SSHA}, {PLAIN}; bcrypt and DES entries are left out with a Warning' },
    { name: 'auth-secret-type', support: 'approximated', note: 'auth-file only; auth-map refuses the Ingress (503)' },
    { name: 'auth-realm', support: 'honoured', note: 'the realm of WWW-Authenticate (default empty)' },
    { name: 'satisfy', support: 'honoured', note: 'any: the source range or the password is enough; all (default): both' },
  ],
  schema: z.strictObject({
    allow: z.array(CidrEntry),
    deny: z.array(CidrEntry),
    basic: z.strictObject({ realm: z.string().regex(REALM), users: z.array(z.strictObject({ user: z.string().min(1), hash: z.string().min(1) })) }).optional(),
    satisfyAny: z.boolean(),
  }),
  read(reader) {
    const allowlist = readList(reader, 'allowlist-source-range');
    const whitelist = readList(reader, 'whitelist-source-range');
    const deny = readList(reader, 'denylist-source-range') ?? [];
    if (allowlist !== undefined && whitelist !== undefined) reader.warn('whitelist-source-range', 'allowlist-source-range is set too and wins; whitelist-source-range is not used');
    const allow = allowlist ?? whitelist ?? [];
    const basic = readBasic(reader);
    const satisfy = reader.string('satisfy')?.toLowerCase();
    if (satisfy !== undefined && satisfy !== 'any' && satisfy !== 'all') reader.refuse('satisfy', `${JSON.stringify(reader.raw('satisfy'))} is not any or all`);
    if (basic === 'refused' || (allow.length === 0 && deny.length === 0 && basic === undefined)) return undefined;
    return { allow, deny, ...(basic === undefined ? {} : { basic }), satisfyAny: satisfy === 'any' };
  },
  prepare(data) {
    const allow = data.allow.length === 0 ? undefined : (CidrSet.of(data.allow) as CidrSet);
    const deny = data.deny.length === 0 ? undefined : (CidrSet.of(data.deny) as CidrSet);
    const ranged = allow !== undefined || deny !== undefined;
    const gate = data.basic === undefined ? undefined : new BasicAuthGate(data.basic.users);
    const challenge = data.basic === undefined ? undefined : { status: 401, headers: [['WWW-Authenticate', basicChallenge(data.basic.realm)]] as const };
    return (facts, outcome) => {
      const sourceOk = !ranged || sourceAllowed(allow, deny, facts.client);
      // satisfy any: one passing check is enough; only the checks the route has count.
      if (data.satisfyAny && ranged && sourceOk) return;
      if (!data.satisfyAny && !sourceOk) {
        outcome.answer = FORBIDDEN;
        return;
      }
      if (gate === undefined) {
        if (!sourceOk) outcome.answer = FORBIDDEN;
        return;
      }
      if (!gate.allows(facts.header('authorization'))) outcome.answer = challenge;
    };
  },
  describe(data) {
    const parts: string[] = [];
    if (data.allow.length !== 0) parts.push(`clients outside ${data.allow.join(', ')} get 403`);
    if (data.deny.length !== 0) parts.push(`clients inside ${data.deny.join(', ')} get 403`);
    if (data.basic !== undefined) parts.push(`basic authentication (realm ${JSON.stringify(data.basic.realm)}, ${data.basic.users.length} users), else 401`);
    return parts.join('; ') + (data.satisfyAny && parts.length > 1 ? ' (satisfy any: one is enough)' : '');
  },
};
