/**
 * The data plane's side of the per-request policy pipeline: after the router matched a route and
 * before the request is forwarded, client.ts runs the route's annotation policies (prepared once
 * per snapshot load, decided by `applyPolicy` of @portico/control/snapshot/policies, which explain
 * shares). Routes without policies never get here: the router hands out `policy: undefined`.
 */
import type { LocalAnswer, PolicyOutcome } from '@portico/control/snapshot/policies/module';
import type { ResponseExtra } from './http/respond.ts';

/** Request header lines a policy adds, and the (lower-case) names of received lines they replace. */
export interface ExtraHeaders {
  /** `Name: value\r\n` lines. */
  readonly lines: Buffer;
  readonly replaces: readonly string[];
}

/** `Name: value\r\n` lines of `pairs`. */
function linesOf(pairs: readonly (readonly [string, string])[]): Buffer {
  return Buffer.from(pairs.map(([name, value]) => `${name}: ${value}\r\n`).join(''), 'latin1');
}

/**
 * The request header lines of an outcome (set and added ones), with the received names they drop
 * (set and removed ones), or undefined when it changes none.
 */
export function extraHeaders(outcome: PolicyOutcome): ExtraHeaders | undefined {
  const { setHeaders: set, addHeaders: add, removeHeaders: remove } = outcome;
  if (set.length === 0 && add.length === 0 && remove.length === 0) return undefined;
  return { lines: linesOf(add.length === 0 ? set : [...set, ...add]), replaces: [...set.map(([name]) => name.toLowerCase()), ...remove] };
}

/**
 * The response header changes of an outcome: set lines replace the endpoint's of the same name,
 * added lines join them, removed names drop them; undefined when it changes none.
 */
export function responseExtraOf(outcome: PolicyOutcome): ResponseExtra | undefined {
  const { responseHeaders: set, responseAdd: add, responseRemove: remove, redirectRewrite: rewrite } = outcome;
  if (set.length === 0 && add.length === 0 && remove.length === 0 && rewrite === undefined) return undefined;
  return { lines: linesOf(add.length === 0 ? set : [...set, ...add]), replaces: [...set.map(([name]) => name.toLowerCase()), ...remove], headers: set, added: add, ...(rewrite === undefined ? {} : { rewrite }) };
}

/** `extra` with `set` lines added (replacing received lines of those names) and `drop` names removed without a replacement. */
export function mergeHeaders(extra: ExtraHeaders | undefined, set: readonly (readonly [string, string])[], drop: readonly string[]): ExtraHeaders {
  const lines = linesOf(set);
  const replaces = [...set.map(([name]) => name.toLowerCase()), ...drop.map((name) => name.toLowerCase())];
  return extra === undefined ? { lines, replaces } : { lines: Buffer.concat([extra.lines, lines]), replaces: [...extra.replaces, ...replaces] };
}

/**
 * The answer of an outcome a step answered (`answer` set), with the response headers earlier steps
 * set or added (CORS, custom-headers): nginx's `more_set_headers` applies to every response of the
 * location, Portico's own 401 and 403 included (ingress-nginx's e2e: a basic-auth 401 carries
 * `Access-Control-Allow-Origin`). The answer's own fields win over a set one of the same name.
 */
export function localAnswerOf(answer: LocalAnswer, outcome: PolicyOutcome): LocalAnswer {
  const { responseHeaders: set, responseAdd: add } = outcome;
  if (set.length === 0 && add.length === 0) return answer;
  const own = new Set(answer.headers.map(([name]) => name.toLowerCase()));
  return { ...answer, headers: [...answer.headers, ...set.filter(([name]) => !own.has(name.toLowerCase())), ...add] };
}
