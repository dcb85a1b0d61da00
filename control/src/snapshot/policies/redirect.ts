/**
 * `permanent-redirect` (+ `permanent-redirect-code`) and `temporal-redirect` (+
 * `temporal-redirect-code`): answer every request of the Ingress's rules with a redirect to a
 * fixed URL instead of proxying, as ingress-nginx's `return <code> <url>` does (its
 * internal/ingress/annotations/redirect parser and test/e2e/annotations/redirect.go): the
 * temporal one wins when both are set; a code outside 300-308 (permanent) or 300-307 (temporal)
 * falls back to 301 or 302; a URL with characters outside ingress-nginx's URL set (letters,
 * digits, `-._~/:,?&=`) or a scheme other than http(s) is not applied (served without it, with a
 * Warning), as ingress-nginx drops an annotation that fails validation.
 */
import type { AnnotationReader, PolicyModule, PolicyOutcome } from './module.ts';

/** The redirect a route answers with. */
export interface RedirectData {
  readonly code: number;
  readonly url: string;
}

/** ingress-nginx's URLIsValidRegex character set. */
const URL_CHARS = /^[-._~a-zA-Z0-9/:,?&=]+$/;

function urlProblem(url: string): string | undefined {
  if (!URL_CHARS.test(url)) return 'has characters ingress-nginx does not accept in a redirect URL (only letters, digits and -._~/:,?&=)';
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'is not an absolute URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'must be an http or https URL';
  return undefined;
}

function readRedirect(reader: AnnotationReader, name: string, codeName: string, fallback: number, maxCode: number): RedirectData | undefined {
  const url = reader.string(name);
  if (url === undefined) return undefined;
  const problem = urlProblem(url);
  if (problem !== undefined) {
    reader.warn(name, `${JSON.stringify(url)} ${problem}; not applied, the routes are proxied as if it were absent (as ingress-nginx does)`);
    return undefined;
  }
  let code = reader.integer(codeName, fallback) ?? fallback;
  if (code < 300 || code > maxCode) {
    reader.warn(codeName, `${code} is not a redirect code in 300-${maxCode}; using ${fallback} (as ingress-nginx does)`);
    code = fallback;
  }
  return { code, url };
}

/** Pure: the answer for every request of a redirecting route. */
export function decideRedirect(data: RedirectData): { status: number; location: string } {
  return { status: data.code, location: data.url };
}

/** The permanent/temporal redirect module. */
export const redirectModule: PolicyModule<RedirectData> = {
  key: 'redirect',
  phase: 'redirect',
  annotations: [
    { name: 'permanent-redirect', support: 'honoured', note: 'answers every request of the rules with the code (default 301) and Location exactly the URL; not proxied' },
    { name: 'permanent-redirect-code', support: 'honoured', note: 'the code for permanent-redirect; outside 300-308 it is 301 with a Warning' },
    { name: 'temporal-redirect', support: 'honoured', note: 'as permanent-redirect with code 302; wins when both are set' },
    { name: 'temporal-redirect-code', support: 'honoured', note: 'the code for temporal-redirect; outside 300-307 it is 302 with a Warning' },
  ],
  schema: (z) => z.strictObject({ code: z.number().int().min(300).max(308), url: z.string().regex(URL_CHARS) }),
  read: (reader) => readRedirect(reader, 'temporal-redirect', 'temporal-redirect-code', 302, 307) ?? readRedirect(reader, 'permanent-redirect', 'permanent-redirect-code', 301, 308),
  prepare(data) {
    const { status, location } = decideRedirect(data);
    const answer = { status, headers: [['Location', location]] as const };
    return (_facts, outcome: PolicyOutcome) => {
      outcome.answer = answer;
    };
  },
  describe: (data) => `redirected (${data.code}) to ${data.url} by permanent-redirect/temporal-redirect`,
};
