/**
 * `proxy-redirect-from` / `proxy-redirect-to`, as ingress-nginx writes them (nginx
 * `proxy_redirect <from> <to>`; its template writes `proxy_redirect off` without them): in the
 * endpoint's `Location` and `Refresh` (the URL after `url=`) response headers, a value that starts
 * with `from` (compared as nginx does, case-sensitively) has that prefix replaced by `to`.
 * `from: off` (and `default`, which in ingress-nginx names its internal upstream URL that no
 * endpoint sends) and a missing `to` change nothing. `to` may use `$host`, `$http_host`, `$scheme`
 * and the other variables external-auth.ts fills in. Values with spaces, control characters
 * (CR/LF) or unknown variables are not applied, with a Warning naming the annotation.
 */
import { unknownVariable } from './auth-url.ts';
import { fillVariables } from './external-auth.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** The rewrite of one route. */
export interface ProxyRedirectData {
  readonly from: string;
  readonly to: string;
}

/** Visible ASCII without space, at most 2048 characters. */
const VALUE = /^[\x21-\x7e]{1,2048}$/;

/** Pure: the new value of response header `name` (lower case), or undefined when it does not change. */
export function rewriteRedirect(name: string, value: string, from: string, to: string): string | undefined {
  let at = 0;
  if (name === 'refresh') {
    const url = value.toLowerCase().indexOf('url=');
    if (url < 0) return undefined;
    at = url + 4;
  } else if (name !== 'location') {
    return undefined;
  }
  return value.startsWith(from, at) ? value.slice(0, at) + to + value.slice(at + from.length) : undefined;
}

function readProxyRedirect(reader: AnnotationReader): ProxyRedirectData | undefined {
  const from = reader.string('proxy-redirect-from');
  const to = reader.string('proxy-redirect-to');
  if (from === undefined || from === 'off' || from === 'default') {
    if (to !== undefined && from === undefined) reader.warn('proxy-redirect-to', 'has no effect without proxy-redirect-from');
    return undefined;
  }
  if (to === undefined || to === 'off') {
    reader.warn('proxy-redirect-from', 'has no effect without proxy-redirect-to (as in ingress-nginx)');
    return undefined;
  }
  for (const [name, value] of [['proxy-redirect-from', from], ['proxy-redirect-to', to]] as const) {
    const problem = !VALUE.test(value) ? 'must be at most 2048 visible ASCII characters (no spaces or control characters)' : name === 'proxy-redirect-from' && value.includes('$') ? 'must be literal text (nginx variables and regular expressions are not supported here)' : unknownVariable(value);
    if (problem !== undefined) {
      reader.warn(name, `${JSON.stringify(value)} ${problem}; not applied, Location and Refresh are passed through unchanged`);
      return undefined;
    }
  }
  return { from, to };
}

/** The proxy-redirect module. */
export const proxyRedirectModule: PolicyModule<ProxyRedirectData> = {
  key: 'proxyRedirect',
  phase: 'request',
  annotations: [
    { name: 'proxy-redirect-from', support: 'honoured', note: 'Location and Refresh (url=) response headers starting with it get that prefix replaced by proxy-redirect-to (nginx proxy_redirect); off/default change nothing' },
    { name: 'proxy-redirect-to', support: 'honoured', note: 'the replacement for proxy-redirect-from; $host, $http_host, $scheme, … filled in' },
  ],
  schema: (z) => z.strictObject({ from: z.string().regex(VALUE), to: z.string().regex(VALUE) }),
  read: readProxyRedirect,
  prepare: (data) => {
    const fixed = data.to.includes('$') ? undefined : data;
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.redirectRewrite = fixed ?? { from: data.from, to: fillVariables(data.to, facts) };
    };
  },
  describe: (data) => `proxy-redirect: Location/Refresh starting with ${data.from} are rewritten to start with ${data.to}`,
};
