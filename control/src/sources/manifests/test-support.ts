/**
 * Test support (no shipped code path imports it): what a watcher holds of a manifest file whose
 * parses answer relative to the objects it holds, made apart from watch.ts so that the parse
 * cache's and the parser thread's answers are checked against an independent reading of them.
 */
import type { KubeObject } from '../../state/objects.ts';
import type { RelativeParseResult } from './incremental.ts';

/** The fingerprint of the document each object was made for: a relative answer's entries name only the edited ones. */
const fingerprints = new WeakMap<KubeObject, string>();

/**
 * The objects `answer` stands for, given `held` (the objects of the answer it is relative to) and
 * `known` (an object by the fingerprint of its document): the first `head` and last `tail` of
 * `held` and, between them, one per entry. Throws when it names more of `held` than there are, or
 * a fingerprint `known` does not hold.
 */
export function objectsOfAnswer(answer: RelativeParseResult, held: readonly KubeObject[], known: (fingerprint: string) => KubeObject | undefined): KubeObject[] {
  const { head, tail, entries } = answer;
  if (head + tail > held.length) throw new Error(`answered ${head} + ${tail} of ${held.length} objects held`);
  const middle = entries.map((entry) => {
    const object = entry.object ?? known(entry.fingerprint!);
    if (object === undefined) throw new Error(`skipped a document whose fingerprint was not known: ${entry.fingerprint}`);
    if (entry.fingerprint !== undefined) fingerprints.set(object, entry.fingerprint);
    return object;
  });
  return [...held.slice(0, head), ...middle, ...held.slice(held.length - tail)];
}

/** `objects` (made by objectsOfAnswer) by the fingerprint of their documents; those of a document without one are left out. */
export function byFingerprint(objects: readonly KubeObject[]): Map<string, KubeObject> {
  const map = new Map<string, KubeObject>();
  for (const object of objects) {
    const fingerprint = fingerprints.get(object);
    if (fingerprint !== undefined) map.set(fingerprint, object);
  }
  return map;
}
