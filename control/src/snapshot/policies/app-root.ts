/**
 * `app-root` and `x-forwarded-prefix`, as ingress-nginx does them (its rewrite and
 * xforwardedprefix annotation parsers, nginx.tmpl; test/e2e/annotations/approot.go and
 * xforwardedprefix.go):
 *
 * - `app-root: /foo`: a request for exactly `/` (query aside) is answered `302` with
 *   `Location: <scheme>://<Host header>/foo` (nginx `return 302 $scheme://$http_host<app-root>`).
 *   ingress-nginx puts it on the whole server; Portico on the Ingress's rules, so a host whose
 *   `/` no rule of that Ingress matches is not redirected.
 * - `x-forwarded-prefix: /p`: the request goes upstream with `X-Forwarded-Prefix: /p`, replacing
 *   one the client sent (nginx `proxy_set_header`).
 *
 * Values outside ingress-nginx's path characters (`/`, letters, digits, `-._~:$`) are not
 * applied, with a Warning, as ingress-nginx drops them.
 */
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** ingress-nginx's RegexPathWithCapture, starting with `/`. */
const PATH_CHARS = /^\/[-._~a-zA-Z0-9/:$]*$/;

function readPath(reader: AnnotationReader, name: string): string | undefined {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (PATH_CHARS.test(value)) return value;
  reader.warn(name, `${JSON.stringify(value)} is not a path ingress-nginx accepts (starting with "/", then letters, digits, "/-._~:$"); not applied`);
  return undefined;
}

/** Pure: the app-root redirect for a request, or undefined when the request is not for `/`. */
export function decideAppRoot(appRoot: string, facts: RequestFacts): string | undefined {
  const path = facts.path;
  if (path !== '/' && !path.startsWith('/?')) return undefined;
  return `${facts.scheme}://${facts.host}${appRoot}`;
}

/** `app-root`: the application's root for requests to `/`. */
export const appRootModule: PolicyModule<string> = {
  key: 'appRoot',
  phase: 'redirect',
  annotations: [{ name: 'app-root', support: 'approximated', note: 'a request for exactly / gets 302 to <scheme>://<Host><app-root>, as ingress-nginx; on the rules of the Ingress that sets it (ingress-nginx: the whole server)' }],
  schema: (z) => z.string().regex(PATH_CHARS),
  read: (reader) => readPath(reader, 'app-root'),
  prepare: (appRoot) => (facts: RequestFacts, outcome: PolicyOutcome) => {
    const location = decideAppRoot(appRoot, facts);
    if (location !== undefined) outcome.answer = { status: 302, headers: [['Location', location]] };
  },
  describe: (appRoot) => `app-root: a request for / is redirected (302) to ${appRoot}`,
};

/** `x-forwarded-prefix`: a request header for the backend. */
export const forwardedPrefixModule: PolicyModule<string> = {
  key: 'xForwardedPrefix',
  phase: 'request',
  annotations: [{ name: 'x-forwarded-prefix', support: 'honoured', note: 'X-Forwarded-Prefix: <value> on every proxied request, replacing a received one' }],
  schema: (z) => z.string().regex(PATH_CHARS),
  read: (reader) => readPath(reader, 'x-forwarded-prefix'),
  prepare: (prefix) => (_facts: RequestFacts, outcome: PolicyOutcome) => {
    outcome.setHeaders.push(['X-Forwarded-Prefix', prefix]);
  },
  describe: (prefix) => `x-forwarded-prefix: the backend gets X-Forwarded-Prefix: ${prefix}`,
};
