/**
 * Regex paths, as ingress-nginx writes them: a host where any Ingress sets `use-regex` or
 * `rewrite-target` has every path compiled as a case-insensitive regular expression anchored at
 * the start (`location ~* "^<path>"`), tried longest path first, the first match wins.
 *
 * Untrusted patterns run on RE2JS (a JavaScript port of RE2): matching is linear in the input
 * whatever the pattern, so no Ingress can stall the event loop with catastrophic backtracking.
 * What RE2 cannot do in linear time (backreferences, lookaround) is refused, as are patterns past
 * MAX_REGEX_LENGTH characters and RE2's own repetition limit (a repeat count over 1000, nested
 * repeats whose product is too large). See docs/matching.md.
 */
import type { RE2JS } from 're2js';
import { compileWholeRegex, re2 } from '@portico/assembly/conditions';

/** Longest regex path accepted, in characters. */
export const MAX_REGEX_LENGTH = 1024;

/** A compiled path regex. */
export interface PathRegex {
  readonly regex: RE2JS;
  /** Number of capture groups (for `$n` references in rewrite-target). */
  readonly groups: number;
}

/**
 * Compiles `pattern` with `prefix` (`^` for location matching, '' for nginx's unanchored
 * `rewrite`) case-insensitively. Returns the regex, or why it is refused.
 */
export function compilePathRegex(pattern: string, prefix: '^' | '' = '^'): PathRegex | { readonly problem: string } {
  if (pattern.length > MAX_REGEX_LENGTH) return { problem: `is longer than ${MAX_REGEX_LENGTH} characters, the limit for a regex path` };
  try {
    const engine = re2();
    const regex = engine.compile(prefix + pattern, engine.CASE_INSENSITIVE);
    return { regex, groups: regex.groupCount() };
  } catch (error) {
    return { problem: `is not a regular expression Portico runs (RE2 syntax, linear time: no backreferences or lookaround): ${(error as Error).message}` };
  }
}

/** A regex host's paths in matching order, with where to go when none matches. */
export class RegexDispatch {
  readonly #regexes: readonly RE2JS[];
  readonly #routes: readonly number[];
  /** Route id when no path matches (the host's default backend, else the catch-all), or -1. */
  readonly fallback: number;

  /** `paths` are in matching order (longest first); patterns must have compiled at build time. */
  constructor(paths: readonly { readonly pattern: string; readonly route: number }[], fallback: number) {
    this.#regexes = paths.map((path) => {
      const compiled = compilePathRegex(path.pattern);
      // The build stage drops paths that do not compile; one here means a snapshot not made by it.
      if ('problem' in compiled) throw new Error(`regex path ${JSON.stringify(path.pattern)} ${compiled.problem}`);
      return compiled.regex;
    });
    this.#routes = paths.map((path) => path.route);
    this.fallback = fallback;
  }

  /** The route id for a request path (the query, if any, is ignored), or `fallback`. */
  match(path: string): number {
    const query = path.indexOf('?');
    const uri = query < 0 ? path : path.slice(0, query);
    for (let i = 0; i < this.#regexes.length; i++) if ((this.#regexes[i] as RE2JS).matcher(uri).find()) return this.#routes[i] as number;
    return this.fallback;
  }
}

/**
 * Why `pattern` cannot be a Gateway API RegularExpression (path, header or query value: RE2,
 * matching the whole value, case-sensitive), or undefined when it can. The matcher runs exactly
 * this compile, so a pattern accepted here always loads.
 */
export function regexProblem(pattern: string): string | undefined {
  const compiled = compileWholeRegex(pattern);
  return typeof compiled === 'string' ? compiled : undefined;
}
