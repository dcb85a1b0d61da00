/**
 * The data plane's side of the per-request policy pipeline: after the router matched a route and
 * before the request is forwarded, client.ts runs the route's annotation policies (prepared once
 * per snapshot load, decided by `applyPolicy` of @portico/control/snapshot/policies, which explain
 * shares). Routes without policies never get here: the router hands out `policy: undefined`.
 */
import type { PolicyOutcome } from '@portico/control/snapshot/policies/module';

/** Request header lines a policy adds, and the (lower-case) names of received lines they replace. */
export interface ExtraHeaders {
  /** `Name: value\r\n` lines. */
  readonly lines: Buffer;
  readonly replaces: readonly string[];
}

/** The header lines of an outcome, or undefined when it sets none. */
export function extraHeaders(outcome: PolicyOutcome): ExtraHeaders | undefined {
  const set = outcome.setHeaders;
  if (set.length === 0) return undefined;
  return { lines: Buffer.from(set.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1'), replaces: set.map(([name]) => name.toLowerCase()) };
}

/** `extra` with `set` lines added (replacing received lines of those names) and `drop` names removed without a replacement. */
export function mergeHeaders(extra: ExtraHeaders | undefined, set: readonly (readonly [string, string])[], drop: readonly string[]): ExtraHeaders {
  const lines = Buffer.from(set.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1');
  const replaces = [...set.map(([name]) => name.toLowerCase()), ...drop.map((name) => name.toLowerCase())];
  return extra === undefined ? { lines, replaces } : { lines: Buffer.concat([extra.lines, lines]), replaces: [...extra.replaces, ...replaces] };
}
