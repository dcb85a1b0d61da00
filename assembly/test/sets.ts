// Tables as tests write them: each backend lists its endpoint ids, and withSets turns those lists
// into the table's endpoint sets (each distinct array object one set, in order of first use: the
// same array on two backends is one set, whose endpoint rotation they share).
import type { MatcherTable } from '../src/host/table.ts';

/** A backend as tests write it: a weight and the endpoint ids behind it. */
export interface ListedBackend {
  readonly weight: number;
  readonly endpoints: readonly number[];
}

/** A MatcherTable whose backends list their endpoints instead of naming a set. */
export interface ListedTable extends Omit<MatcherTable, 'routes' | 'sets'> {
  readonly routes: readonly { readonly backends: readonly ListedBackend[] }[];
}

/** `table` with its backends' endpoint lists made sets (see the file comment). */
export function withSets(table: ListedTable): MatcherTable {
  const ids = new Map<readonly number[], number>();
  const sets: (readonly number[])[] = [];
  const setOf = (endpoints: readonly number[]): number => {
    let id = ids.get(endpoints);
    if (id === undefined) {
      id = sets.push(endpoints) - 1;
      ids.set(endpoints, id);
    }
    return id;
  };
  return { ...table, routes: table.routes.map((route) => ({ backends: route.backends.map((backend) => ({ weight: backend.weight, set: setOf(backend.endpoints) })) })), sets };
}
