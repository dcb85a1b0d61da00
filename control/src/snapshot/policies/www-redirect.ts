/**
 * `from-to-www-redirect`, the answer of the extra host (see build/host-aliases.ts): ingress-nginx
 * adds a server for `www.<host>` (or `<host>` without `www.` when the Ingress's host has it) that
 * answers every request with `308` to `<scheme>://<host>:<server port><request URI>`, one
 * trailing `/` of the request URI removed (its ngx_srv_redirect.lua; test/e2e/annotations/
 * fromtowwwredirect.go expects `http://fromtowwwredirect.bar.com:80/foo`). The module is never
 * read from annotations: the build puts its data on the extra host's one route.
 */
import type { PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** Where the extra host redirects to. */
export interface WwwRedirectData {
  /** The Ingress's host. */
  readonly to: string;
}

/** Pure: the Location of the redirect for one request. */
export function wwwLocation(to: string, facts: RequestFacts): string {
  const uri = facts.target.endsWith('/') ? facts.target.slice(0, -1) : facts.target;
  const port = facts.port ?? (facts.scheme === 'https' ? 443 : 80);
  return `${facts.scheme}://${to}:${port}${uri}`;
}

/** The from-to-www-redirect answer of the extra host. */
export const wwwRedirectModule: PolicyModule<WwwRedirectData> = {
  key: 'wwwRedirect',
  phase: 'redirect',
  // Read by the build (BUILD_ANNOTATIONS lists from-to-www-redirect), not from a route's annotations.
  annotations: [],
  schema: (z) => z.strictObject({ to: z.string().regex(/^[a-z0-9.-]{1,253}$/) }),
  read: () => undefined,
  prepare: (data) => (facts: RequestFacts, outcome: PolicyOutcome) => {
    outcome.answer = { status: 308, headers: [['Location', wwwLocation(data.to, facts)]] };
  },
  describe: (data) => `from-to-www-redirect: every request is redirected (308) to ${data.to}, same scheme, port and request URI`,
};
