/**
 * Where a model list handed out by the incremental build differs from the one it handed out
 * before: the build patches its sorted lists in place (a host replaced, added or removed) and
 * hands out copies; it notes each patch here, and compile (`share`) asks which items at both ends
 * are the previous copy's instead of comparing every item (one changed host among 50,000 costs
 * what it costs among 1,000).
 */

/** What a copy kept of the copy before it: its first `head` and last `tail` items are that copy's (held weakly). */
interface KeptEnds {
  readonly previous: WeakRef<readonly object[]>;
  readonly head: number;
  readonly tail: number;
}

const keptEnds = new WeakMap<readonly object[], KeptEnds>();

/**
 * How many items at the start (`head`) and at the end (`tail`) of `list` are, by identity, the
 * items of `previous` at the same place from its start and from its end, when the build recorded
 * `list` as a copy made right after `previous` (`head + tail` never exceeds either length).
 * Undefined when it did not (the caller compares them).
 */
export function keptEndsOf(list: readonly object[], previous: readonly object[]): { readonly head: number; readonly tail: number } | undefined {
  const kept = keptEnds.get(list);
  if (kept === undefined || kept.previous.deref() !== previous) return undefined;
  return { head: kept.head, tail: kept.tail };
}

/**
 * The edits of one sorted list the build patches in place between the copies it hands out.
 * `copy` makes the next copy and records what it kept of the last one.
 */
export class ListEdits<T extends object> {
  #last: readonly T[] | undefined;
  /** Items at the start of the list that no edit since the last copy touched. */
  #head = Number.MAX_SAFE_INTEGER;
  /** Items at the end of the list that no edit since the last copy touched. */
  #tail = Number.MAX_SAFE_INTEGER;

  /** Notes that the item at `at` was replaced (`set`), inserted or removed; `length` is the list's length after the edit. */
  note(kind: 'set' | 'insert' | 'remove', at: number, length: number): void {
    this.#head = Math.min(this.#head, at);
    // Items after the edited place keep their distance from the end.
    this.#tail = Math.min(this.#tail, length - at - (kind === 'remove' ? 0 : 1));
  }

  /** A copy of `list` (the list these edits patched), recorded as keeping the ends no edit touched of the last copy. */
  copy(list: readonly T[]): readonly T[] {
    const out = list.slice();
    const last = this.#last;
    if (last !== undefined) {
      const head = Math.min(this.#head, out.length, last.length);
      const tail = Math.max(0, Math.min(this.#tail, out.length - head, last.length - head));
      keptEnds.set(out, { previous: new WeakRef(last), head, tail });
    }
    this.#last = out;
    this.#head = Number.MAX_SAFE_INTEGER;
    this.#tail = Number.MAX_SAFE_INTEGER;
    return out;
  }
}
