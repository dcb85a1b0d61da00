/**
 * `use-regex` and `rewrite-target`, as ingress-nginx does them (its rewrite annotation parser,
 * template.go buildLocation/buildProxyPass, test/e2e/annotations/rewrite.go):
 *
 * - Either one on any Ingress makes every path of its hosts a case-insensitive regex anchored at
 *   the start (`location ~* "^<path>"`), whatever the pathType (see ../regex.ts).
 * - `rewrite-target` replaces the whole request path (nginx `rewrite "(?i)<path>" <target>
 *   break;`): the path regex is searched in the path, `$1`..`$9` in the target are its capture
 *   groups (an unset or missing group is empty, as in nginx), and the query is kept. When the
 *   target equals the path, nothing is rewritten (as ingress-nginx emits no rewrite then).
 * - A target outside ingress-nginx's accepted characters (`/`, letters, digits, `-._~:$`) is not
 *   applied (a Warning), as ingress-nginx drops it; `use-regex` reads "true"/"false".
 */
import { compilePathRegex } from '../regex.ts';
import type { PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** ingress-nginx's RegexPathWithCapture. */
const TARGET_CHARS = /^\/?[-._~a-zA-Z0-9/:$]*$/;

/** The highest `$n` a target refers to (0 when none). */
export function highestCapture(target: string): number {
  let highest = 0;
  for (const match of target.matchAll(/\$(\d)/g)) highest = Math.max(highest, Number(match[1]));
  return highest;
}

/**
 * Pure: the request-target to forward for `uri` (path without query) and `query` ('' or with
 * '?'), given the capture groups of the rewrite regex (index 0 the whole match). nginx semantics:
 * the target replaces the whole path; `$n` is group n or empty.
 */
export function rewriteTarget(target: string, groups: readonly (string | null)[], query: string): string {
  const path = target.replace(/\$(\d)/g, (_all, digit: string) => groups[Number(digit)] ?? '');
  return path + query;
}

/** `use-regex`: the module only marks the hosts' paths as regexes; matching does the rest. */
export const useRegexModule: PolicyModule<true> = {
  key: 'useRegex',
  phase: 'request',
  annotations: [{ name: 'use-regex', support: 'honoured', note: "every path of the Ingress's hosts (from any Ingress) is a case-insensitive regex anchored at the start, longest path first; RE2 syntax (no backreferences or lookaround: such a path is skipped with an Error)" }],
  schema: (z) => z.literal(true),
  read: (reader) => (reader.boolean('use-regex', false) ? true : undefined),
  regexPaths: () => true,
  prepare: () => undefined,
  describe: () => "use-regex: this host's paths are case-insensitive regular expressions",
};

/** `rewrite-target`: the path sent upstream. */
export const rewriteModule: PolicyModule<string> = {
  key: 'rewriteTarget',
  phase: 'request',
  annotations: [{ name: 'rewrite-target', support: 'honoured', note: 'the path sent upstream is the target with `$1`..`$9` from the path regex (the query is kept); implies use-regex for the hosts' }],
  schema: (z) => z.string().regex(TARGET_CHARS),
  read(reader) {
    const target = reader.string('rewrite-target');
    if (target === undefined) return undefined;
    if (!TARGET_CHARS.test(target)) {
      reader.warn('rewrite-target', `${JSON.stringify(target)} has characters ingress-nginx does not accept (only "/", letters, digits, "-._~:$"); not applied (as ingress-nginx drops it)`);
      return undefined;
    }
    return target;
  },
  regexPaths: () => true,
  prepare(target, route) {
    if (route.path === undefined || route.path === target) return undefined;
    const compiled = compilePathRegex(route.path, '');
    if ('problem' in compiled) return undefined;
    const regex = compiled.regex;
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      const path = outcome.target ?? facts.path;
      const at = path.indexOf('?');
      const uri = at < 0 ? path : path.slice(0, at);
      const matcher = regex.matcher(uri);
      if (!matcher.find()) return;
      const groups: (string | null)[] = [];
      for (let group = 0; group <= compiled.groups; group++) groups.push(matcher.group(group));
      outcome.target = rewriteTarget(target, groups, at < 0 ? '' : path.slice(at));
    };
  },
  describe: (target) => `rewrite-target: the path sent upstream becomes ${target}`,
};
