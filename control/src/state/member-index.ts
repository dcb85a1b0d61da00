/**
 * Members by key (derivations by host, EndpointSlices by Service, files by object, ...): a key's
 * one member is the string itself, a Set only while it has two or more. Most keys have one member
 * (a host claimed by one Ingress, a Service with one slice, an object in one file): at 50k
 * Ingresses a Set per key was megabytes of heap in each such index.
 */
export type MemberIndex = Map<string, string | Set<string>>;

const NO_MEMBERS: readonly string[] = [];

/** The members of `key` in the order they were added (empty when none). */
export function membersOf(index: MemberIndex, key: string): Iterable<string> {
  const entry = index.get(key);
  return entry === undefined ? NO_MEMBERS : typeof entry === 'string' ? [entry] : entry;
}

/** Adds `member` under `key` (no-op when it is there). */
export function addMember(index: MemberIndex, key: string, member: string): void {
  const entry = index.get(key);
  if (entry === undefined) index.set(key, member);
  else if (typeof entry !== 'string') entry.add(member);
  else if (entry !== member) index.set(key, new Set([entry, member]));
}

/** Removes `member` from `key` (no-op when it is not there); a key left with one member keeps it as a plain string, one left with none is dropped. */
export function removeMember(index: MemberIndex, key: string, member: string): void {
  const entry = index.get(key);
  if (entry === undefined) return;
  if (typeof entry === 'string') {
    if (entry === member) index.delete(key);
    return;
  }
  entry.delete(member);
  if (entry.size === 1) index.set(key, entry.values().next().value!);
  else if (entry.size === 0) index.delete(key);
}
