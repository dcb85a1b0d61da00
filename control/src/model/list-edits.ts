/**
 * Where a model list handed out by the incremental build differs from the one it handed out
 * before: the build patches its sorted lists in place (a host replaced, added or removed) and
 * hands out copies; it notes each patch here, and compile (`share`) asks which stretches of items
 * are the previous copy's instead of comparing every item (changed hosts among 50,000 cost what
 * they cost among 1,000, however far apart they are).
 */

/**
 * What a copy kept of the copy before it (held weakly): flat triples `from, to, offset` in
 * increasing order, each saying that its items [from, to) are that copy's [from + offset, to + offset).
 */
interface Kept {
  readonly previous: WeakRef<readonly object[]>;
  readonly runs: readonly number[];
}

const kept = new WeakMap<readonly object[], Kept>();

/** Stretches a record keeps apart at most: past them (a batch of many edits) only its first and last are kept. */
const MAX_RUNS = 64;

/**
 * The stretches of `list` that are, by identity, stretches of `previous` (flat `from, to, offset`
 * triples in increasing order: items [from, to) are `previous`'s [from + offset, to + offset)),
 * when the build recorded `list` as a copy made right after `previous`. Undefined when it did not
 * (the caller compares them).
 */
export function keptRunsOf(list: readonly object[], previous: readonly object[]): readonly number[] | undefined {
  const record = kept.get(list);
  return record === undefined || record.previous.deref() !== previous ? undefined : record.runs;
}

/**
 * The edits of one sorted list the build patches in place between the copies it hands out.
 * `copy` makes the next copy and records what it kept of the last one.
 */
export class ListEdits<T extends object> {
  #last: readonly T[] | undefined;
  /** The stretches of the list as patched that no edit since the last copy touched (see Kept); undefined while none was noted. */
  #runs: number[] | undefined;

  /** Notes that the item at `at` was replaced (`set`), inserted or removed; `length` is the list's length after the edit. */
  note(kind: 'set' | 'insert' | 'remove', at: number, length: number): void {
    const runs = this.#runs ?? [0, length - (kind === 'insert' ? 1 : kind === 'remove' ? -1 : 0), 0];
    const next: number[] = [];
    const push = (from: number, to: number, offset: number): void => {
      if (to > from) next.push(from, to, offset);
    };
    for (let k = 0; k < runs.length; k += 3) {
      const from = runs[k]!;
      const to = runs[k + 1]!;
      const offset = runs[k + 2]!;
      if (to <= at) push(from, to, offset);
      else if (kind === 'set') {
        push(from, Math.min(at, to), offset);
        push(Math.max(at + 1, from), to, offset);
      } else if (kind === 'insert') {
        // Items from `at` on move one place later: the previous copy's index of each stays.
        push(from, at, offset);
        push(Math.max(at, from) + 1, to + 1, offset - 1);
      } else if (from > at) push(from - 1, to - 1, offset + 1);
      else {
        push(from, at, offset);
        push(at, to - 1, offset + 1);
      }
    }
    // A batch of many edits: its first and last stretches (the unchanged ends, usually) are enough.
    this.#runs = next.length > 3 * MAX_RUNS ? [...next.slice(0, 3), ...next.slice(-3)] : next;
  }

  /** A copy of `list` (the list these edits patched), recorded as keeping the stretches no edit touched of the last copy. */
  copy(list: readonly T[]): readonly T[] {
    const out = list.slice();
    const last = this.#last;
    if (last !== undefined) {
      const runs = this.#runs ?? [0, out.length, 0];
      // Only stretches inside both lists (a note past the end claims nothing).
      const inside: number[] = [];
      for (let k = 0; k < runs.length; k += 3) {
        const from = runs[k]!;
        const to = Math.min(runs[k + 1]!, out.length, last.length - runs[k + 2]!);
        if (to > from && from + runs[k + 2]! >= 0) inside.push(from, to, runs[k + 2]!);
      }
      kept.set(out, { previous: new WeakRef(last), runs: inside });
    }
    this.#last = out;
    this.#runs = undefined;
    return out;
  }
}
