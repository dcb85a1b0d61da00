/**
 * What ClusterState keeps of each object, made small: equal strings and equal small subtrees are
 * shared, within an object and across the objects stored lately, and `metadata.managedFields`
 * (server-side apply bookkeeping, read by nothing in Portico) is dropped.
 *
 * At 50k Ingresses the stored objects were ~70 MB of heap, most of it copies: every Ingress's
 * namespace, class name, path types and paths, the same `{ service: { name, port } }` backend
 * under each of its paths, the same `{ ready: true }` under each endpoint of a slice. The
 * garbage collector marks every one of those on each full collection.
 */

/** Longest string shared (longer ones are names, certificates and the like: rarely equal, costly to key). */
const MAX_SHARED_STRING = 64;
/** Longest signature of a subtree shared (bigger subtrees are kept as they are). */
const MAX_SIGNATURE = 240;
/** Deepest level looked into (deeper data is kept as it is: no recursion as deep as a hostile document). */
const MAX_DEPTH = 32;
/** Entries each table holds before it starts afresh (bounds what it keeps alive of objects since removed). */
const TABLE_LIMIT = 8192;

/**
 * Shares equal strings and equal small subtrees among the objects it is given. The tables are
 * bounded (started afresh past TABLE_LIMIT entries), so they keep alive at most that many
 * strings and subtrees of objects the state no longer holds.
 */
export class ObjectCompactor {
  private strings = new Map<string, string>();
  private subtrees = new Map<string, object>();

  /**
   * `object`, compacted in place: every string and small plain subtree equal to one seen before
   * (in this object or an earlier one, while the tables hold it) is replaced by that one, and
   * `metadata.managedFields` is dropped. Plain data only: what is not a plain object, array or
   * primitive is left as it is. Objects handed in must not be changed afterwards, by anyone: their
   * subtrees may be shared with other objects.
   */
  compact<T extends object>(object: T): T {
    const metadata = (object as { metadata?: unknown }).metadata;
    if (isPlainObject(metadata) && 'managedFields' in metadata) {
      const { managedFields: _dropped, ...rest } = metadata;
      (object as { metadata?: unknown }).metadata = rest;
    }
    this.visit(object, 0);
    return object;
  }

  /** Compacts `value`'s children in place; returns the value to keep (a shared equal one, or itself) and its signature (undefined: too big or not plain). */
  private visit(value: unknown, depth: number): [unknown, string | undefined] {
    switch (typeof value) {
      case 'string':
        return value.length > MAX_SHARED_STRING ? [value, undefined] : [this.shareString(value), JSON.stringify(value)];
      case 'number':
        return [value, Object.is(value, -0) ? '-0' : String(value)];
      case 'boolean':
        return [value, String(value)];
      case 'undefined':
        return [value, 'u'];
      case 'object':
        break;
      default:
        return [value, undefined];
    }
    if (value === null) return [value, 'null'];
    if (depth >= MAX_DEPTH) return [value, undefined];
    // A frozen object's children stay as they are (it may still be shared whole).
    const writable = !Object.isFrozen(value);
    let signature: string | undefined;
    if (Array.isArray(value)) {
      signature = '[';
      for (let i = 0; i < value.length; i++) {
        const [kept, child] = this.visit(value[i], depth + 1);
        // Strings compare by value: an equal one from the table is stored whatever `!==` says.
        if (writable && (typeof kept === 'string' || kept !== value[i])) value[i] = kept;
        // A hole is not an undefined member: such an array is never shared.
        signature = child === undefined || signature === undefined || !(i in value) ? undefined : `${signature}${i === 0 ? '' : ','}${child}`;
        if (signature !== undefined && signature.length > MAX_SIGNATURE) signature = undefined;
      }
      if (signature !== undefined) signature += ']';
    } else if (isPlainObject(value)) {
      signature = '{';
      let first = true;
      for (const key of Object.keys(value)) {
        const [kept, child] = this.visit(value[key], depth + 1);
        // An own `__proto__` (JSON.parse makes one) is left alone: assigning it could reach the prototype.
        if (key === '__proto__') {
          signature = undefined;
          continue;
        }
        if (writable && (typeof kept === 'string' || kept !== value[key])) value[key] = kept;
        signature = child === undefined || signature === undefined ? undefined : `${signature}${first ? '' : ','}${JSON.stringify(key)}:${child}`;
        if (signature !== undefined && signature.length > MAX_SIGNATURE) signature = undefined;
        first = false;
      }
      if (signature !== undefined) signature += '}';
    } else {
      return [value, undefined];
    }
    if (signature === undefined) return [value, undefined];
    const shared = this.subtrees.get(signature);
    if (shared !== undefined) return [shared, signature];
    if (this.subtrees.size >= TABLE_LIMIT) this.subtrees = new Map();
    this.subtrees.set(signature, value);
    return [value, signature];
  }

  private shareString(value: string): string {
    const shared = this.strings.get(value);
    if (shared !== undefined) return shared;
    if (this.strings.size >= TABLE_LIMIT) this.strings = new Map();
    this.strings.set(value, value);
    return value;
  }
}

/** Whether `value` is a plain object (an object literal's or JSON's; not an array, Date, Buffer or class instance). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
