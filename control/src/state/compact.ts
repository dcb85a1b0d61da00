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
const MAX_SIGNATURE = 160;
/** Deepest level looked into (deeper data is kept as it is: no recursion as deep as a hostile document). */
const MAX_DEPTH = 32;
/** Most entries the tables hold; the next object starts them afresh (bounds what they keep alive of objects since removed). */
const TABLE_LIMIT = 8192;

/**
 * Shares equal strings and equal small subtrees among the objects it is given. A subtree's
 * signature names its members by the table numbers of their shared values (a string, a subtree)
 * or by their own text (a number, a boolean): short whatever the depth, so a signature is cheap
 * to make and to look up. The tables are bounded: they hold at most TABLE_LIMIT entries (once full,
 * the rest of an object is shared only with what they hold, nothing new is added; the next object
 * starts them afresh), so they keep alive at most that many strings and subtrees of objects the
 * state no longer holds.
 */
export class ObjectCompactor {
  /** Shared strings and subtrees by value / signature, with their numbers (their index in `values`). */
  private strings = new Map<string, number>();
  private subtrees = new Map<string, number>();
  private values: unknown[] = [];

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
    if (this.values.length >= TABLE_LIMIT) {
      this.strings = new Map();
      this.subtrees = new Map();
      this.values = [];
    }
    this.visit(object, 0);
    return object;
  }

  /** Set by `visit` when the visited value is to be replaced by an equal shared one (`shared`). */
  private replace = false;
  private shared = undefined as unknown;

  /**
   * Compacts `value`'s children in place and returns `value`'s signature, each ending in `;`
   * (undefined: too big, too deep or not plain data); sets `replace` (and `shared`) when `value`
   * itself is to be replaced by an equal value from the tables.
   */
  private visit(value: unknown, depth: number): string | undefined {
    this.replace = false;
    switch (typeof value) {
      case 'string': {
        if (value.length > MAX_SHARED_STRING) return undefined;
        let id = this.strings.get(value);
        if (id === undefined) {
          if (this.values.length >= TABLE_LIMIT) return undefined; // full: not shareable
          id = this.values.push(value) - 1;
          this.strings.set(value, id);
        } else {
          // Strings compare by value: whether the table's is this very one cannot be told, so it is stored.
          this.replace = true;
          this.shared = this.values[id];
        }
        return `s${id};`;
      }
      case 'number':
        return Object.is(value, -0) ? 'n-0;' : `n${value};`;
      case 'boolean':
        return value ? 't;' : 'f;';
      case 'undefined':
        return 'u;';
      case 'object':
        break;
      default:
        return undefined;
    }
    if (value === null) return 'z;';
    if (depth >= MAX_DEPTH) return undefined;
    // A frozen or sealed object's children stay as they are (it may still be shared whole).
    const writable = Object.isExtensible(value);
    let signature: string | undefined;
    if (Array.isArray(value)) {
      signature = '[';
      for (let i = 0; i < value.length; i++) {
        const child = this.visit(value[i], depth + 1);
        if (this.replace && writable) value[i] = this.shared;
        // A hole is not an undefined member: such an array is never shared.
        signature = child === undefined || signature === undefined || signature.length > MAX_SIGNATURE || !(i in value) ? undefined : signature + child;
      }
    } else if (isPlainObject(value)) {
      signature = '{';
      for (const key of Object.keys(value)) {
        const child = this.visit(value[key], depth + 1);
        // An own `__proto__` (JSON.parse makes one) is left alone: assigning it could reach the prototype.
        if (key === '__proto__') {
          signature = undefined;
          continue;
        }
        if (this.replace && writable) assign(value, key, this.shared);
        // The key's length first: any key text is unambiguous.
        signature = child === undefined || signature === undefined || signature.length > MAX_SIGNATURE ? undefined : `${signature}${key.length}:${key}${child}`;
      }
    } else {
      return undefined;
    }
    this.replace = false;
    if (signature === undefined || signature.length > MAX_SIGNATURE) return undefined;
    const id = this.subtrees.get(signature);
    if (id === undefined) {
      if (this.values.length >= TABLE_LIMIT) return undefined; // full: not shareable
      this.subtrees.set(signature, this.values.push(value) - 1);
      return `o${this.values.length - 1};`;
    }
    this.shared = this.values[id];
    this.replace = this.shared !== value;
    return `o${id};`;
  }
}

/** `object[key] = value`, unless `key` is an accessor without a setter (not plain data: left as it is). */
function assign(object: Record<string, unknown>, key: string, value: unknown): void {
  try {
    object[key] = value;
  } catch {
    // A getter-only property (a test's counting probe, say): it keeps its own value.
  }
}

/** Whether `value` is a plain object (an object literal's or JSON's; not an array, Date, Buffer or class instance). */
function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}
