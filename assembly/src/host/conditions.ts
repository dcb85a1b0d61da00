/**
 * Match conditions judged on the host side: header values, query parameters and regex paths.
 * wasm picks the host, then the host side evaluates only that host's conditions into the
 * condition bitset and wasm finishes the lookup (see matcher.ts). Regexes run on RE2JS: matching
 * is linear in the input whatever the pattern, so no route can stall the event loop.
 */
import { createRequire } from 'node:module';
import type { RE2JS } from 're2js';
import type { RequestHeaders } from './matcher.ts';
import { CondKind } from './layout.ts';

let re2js: { readonly RE2JS: typeof RE2JS } | undefined;

/**
 * RE2JS, loaded when the first pattern is compiled: a data-plane worker whose table has no regex
 * never pays for it (about 1 MiB; docs/dataplane.md, "What a worker loads").
 */
export function re2(): typeof RE2JS {
  re2js ??= createRequire(import.meta.url)('re2js') as { readonly RE2JS: typeof RE2JS };
  return re2js.RE2JS;
}

/** Longest regex pattern (path, header or query value) accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1024;

/**
 * Compiles `pattern` as an RE2 regular expression that must match a whole value, case-sensitively.
 * Returns the regex, or why it is refused (too long, not RE2 syntax, RE2's repetition limit).
 */
export function compileWholeRegex(pattern: string): RE2JS | string {
  if (pattern.length > MAX_PATTERN_LENGTH) return `is longer than ${MAX_PATTERN_LENGTH} characters, the limit for a regular expression`;
  try {
    return re2().compile(pattern);
  } catch (error) {
    return `is not a regular expression Portico runs (RE2 syntax, linear time: no backreferences or lookaround): ${(error as Error).message}`;
  }
}

/**
 * Decodes each `%XX` escape, a lead byte with its continuation bytes at a time, when they form
 * UTF-8; escapes that do not (and `+`) stay as written.
 */
export function percentDecode(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(/%[0-9A-Fa-f]{2}(?:%[89ABab][0-9A-Fa-f])*/g, (run) => {
    try {
      return decodeURIComponent(run);
    } catch {
      return run;
    }
  });
}

/** The request path as regex paths see it: query cut off, empty read as `/`, lone surrogates as U+FFFD. */
export function pathOnly(path: string): string {
  const query = path.indexOf('?');
  const only = query < 0 ? path : path.slice(0, query);
  return only === '' ? '/' : only.toWellFormed();
}

/**
 * The first value of each query parameter of `path` (names and values percent-decoded), or an
 * empty map when it has no query. A parameter without `=` has the value ''.
 */
export function firstQueryValues(path: string): Map<string, string> {
  const values = new Map<string, string>();
  const query = path.indexOf('?');
  if (query < 0) return values;
  for (const pair of path.slice(query + 1).split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = percentDecode(eq < 0 ? pair : pair.slice(0, eq));
    if (!values.has(name)) values.set(name, percentDecode(eq < 0 ? '' : pair.slice(eq + 1)));
  }
  return values;
}

/** One condition as the table stores it, with its bit. */
export interface StoredCondition {
  readonly kind: number;
  readonly name: string;
  readonly value: string;
  readonly bit: number;
}

interface Judged {
  readonly kind: number;
  readonly name: string;
  readonly value: string;
  readonly regex: RE2JS | undefined;
  readonly word: number;
  readonly mask: number;
}

/** Whether a header's value(s) satisfy `cond`: any field line's value does. */
function headerHolds(cond: Judged, got: string | readonly string[]): boolean {
  if (typeof got === 'string') return cond.regex === undefined ? got === cond.value : cond.regex.matches(got);
  for (const value of got) if (cond.regex === undefined ? value === cond.value : cond.regex.matches(value)) return true;
  return false;
}

/** The conditions of one host, compiled once per table load; `fill` judges them for one request. */
export class HostConditions {
  readonly #conds: readonly Judged[];
  readonly #firstWord: number;
  readonly #lastWord: number;
  readonly #query: boolean;

  /** `conds` must all belong to one host; their regexes must compile (throws otherwise: the table was not made by encodeTable). */
  constructor(conds: readonly StoredCondition[]) {
    this.#conds = conds.map((cond) => {
      let regex: RE2JS | undefined;
      if (cond.kind === CondKind.HEADER_REGEX || cond.kind === CondKind.QUERY_REGEX || cond.kind === CondKind.PATH_REGEX) {
        const compiled = compileWholeRegex(cond.value);
        if (typeof compiled === 'string') throw new Error(`condition pattern ${JSON.stringify(cond.value)} ${compiled}`);
        regex = compiled;
      }
      return { kind: cond.kind, name: cond.name, value: cond.value, regex, word: cond.bit >>> 5, mask: 1 << (cond.bit & 31) };
    });
    const words = this.#conds.map((cond) => cond.word);
    this.#firstWord = Math.min(...words);
    this.#lastWord = Math.max(...words);
    this.#query = this.#conds.some((cond) => cond.kind === CondKind.QUERY_EXACT || cond.kind === CondKind.QUERY_REGEX);
  }

  /** Sets the bits (from word `base` of `words`) of the conditions the request satisfies, clearing the others. */
  fill(words: Uint32Array, base: number, path: string, headers: RequestHeaders | undefined): void {
    for (let w = this.#firstWord; w <= this.#lastWord; w++) words[base + w] = 0;
    const query = this.#query ? firstQueryValues(path) : undefined;
    let only: string | undefined;
    for (const cond of this.#conds) {
      let holds: boolean;
      switch (cond.kind) {
        case CondKind.HEADER_EXACT:
        case CondKind.HEADER_REGEX: {
          const got = headers?.[cond.name];
          holds = got !== undefined && headerHolds(cond, got);
          break;
        }
        case CondKind.QUERY_EXACT:
        case CondKind.QUERY_REGEX: {
          const got = query?.get(cond.name);
          holds = got !== undefined && (cond.regex === undefined ? got === cond.value : cond.regex.matches(got));
          break;
        }
        default:
          only ??= pathOnly(path);
          holds = cond.regex !== undefined && cond.regex.matches(only);
      }
      if (holds) words[base + cond.word] = (words[base + cond.word] as number) | cond.mask;
    }
  }
}
