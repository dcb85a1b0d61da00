/**
 * Host/path conflicts of a route write with the Ingresses Portico already serves, by the build
 * stage's own keys (host + Exact path, or host + Prefix path without trailing slashes; default
 * backends per host or catch-all). The build stage would settle such a collision silently for the
 * older object and give the newer one a Conflict condition; the API refuses the write instead, so
 * nothing is shadowed by accident.
 */
import type { ClassSelection } from '../build/ingress-class.ts';
import { servesIngress } from '../build/ingress-class.ts';
import { hostProblem, normalizePrefix, pathClaimKey } from '../build/validate.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings, objectKey, ruleHost } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import type { ConflictRef } from './problem.ts';
import { pointerOfField } from './problem.ts';

/** What the API checks writes against: the Ingresses Portico serves now, from every source (manifests, informers, the store). */
export interface ServedIngresses {
  /** The served Ingress `namespace/name`; undefined when none is stored or Portico does not serve its class. */
  get(namespace: string, name: string): Ingress | undefined;
  /**
   * The served Ingresses that claim `host` (lower-cased; `*`: the catch-all), each once, others
   * possibly too: a caller compares their claims. What it costs follows the Ingresses on that host.
   */
  claiming(host: string): Iterable<Ingress>;
  /** Whether Portico would serve this Ingress (its class); a write of another class conflicts with nothing. */
  serves(ingress: Ingress): boolean;
}

/** ServedIngresses read from a ClusterState with a class selection (what composition roots pass). */
export function servedFrom(state: ClusterState, selection: ClassSelection): ServedIngresses {
  const served = (ingress: Ingress | undefined) => (ingress !== undefined && servesIngress(ingress, state, selection) ? ingress : undefined);
  return {
    get: (namespace, name) => served(state.ingresses.get(objectKey(namespace, name))),
    *claiming(host) {
      for (const key of state.ingressesClaiming(host)) {
        const ingress = served(state.ingresses.get(key));
        if (ingress !== undefined) yield ingress;
      }
    },
    serves: (ingress) => servesIngress(ingress, state, selection),
  };
}

interface Claim {
  readonly key: string;
  /** The host claimed (`*`: the catch-all). */
  readonly host: string;
  readonly description: string;
  readonly field: string;
}

/** The claims of one Ingress, as the build stage keys them. */
function claims(ingress: Ingress): Claim[] {
  const out: Claim[] = [];
  const hosts: string[] = [];
  let hostless = false;
  (ingress.spec.rules ?? []).forEach((rule, i) => {
    const host = ruleHost(rule);
    if (host !== '*' && hostProblem(host) !== undefined) return;
    if (host === '*') hostless = true;
    else hosts.push(host);
    rule.http?.paths.forEach((path, j) => {
      const value = path.path ?? '/';
      const exact = path.pathType === 'Exact';
      out.push({
        key: `path ${pathClaimKey(host, path.pathType, value)}`,
        host,
        description: `host ${host} ${exact ? 'Exact' : 'Prefix'} ${exact ? value : normalizePrefix(value)}`,
        field: `spec.rules[${i}].http.paths[${j}]`,
      });
    });
  });
  if (ingress.spec.defaultBackend !== undefined) {
    const targets = hosts.length > 0 ? [...hosts, ...(hostless ? ['*'] : [])] : ['*'];
    for (const host of targets) {
      out.push({ key: `default ${host}`, host, description: host === '*' ? 'the catch-all default backend' : `the default backend of host ${host}`, field: 'spec.defaultBackend' });
    }
  }
  return out;
}

/**
 * The served Ingresses a write of `candidate` would collide with (other than the object itself),
 * each naming the claim both make, sorted by pointer, namespace, name and field; `pointerOf` maps
 * a candidate field to a pointer into the body. Only the Ingresses on the candidate's hosts are
 * looked at (ClusterState's host index, made on the first write): a write among 50,000 Ingresses
 * costs what it costs among 1,000 (a scan of every Ingress was ~0.4 s at 50k).
 */
export function findConflicts(candidate: Ingress, served: ServedIngresses, pointerOf: (field: string) => string = pointerOfField): ConflictRef[] {
  if (!served.serves(candidate)) return [];
  const namespace = candidate.metadata.namespace ?? 'default';
  const name = candidate.metadata.name;
  const conflicts: ConflictRef[] = [];
  const own = claims(candidate);
  const mine = new Map(own.map((claim) => [claim.key, claim]));
  const looked = new Set<Ingress>();
  for (const host of new Set(own.map((claim) => claim.host))) {
    for (const other of served.claiming(host)) {
      if (looked.has(other)) continue;
      looked.add(other);
      const otherNamespace = other.metadata.namespace ?? 'default';
      if (otherNamespace === namespace && other.metadata.name === name) continue;
      for (const claim of claims(other)) {
        const mineToo = mine.get(claim.key);
        if (mineToo === undefined) continue;
        conflicts.push({ kind: 'Ingress', namespace: otherNamespace, name: other.metadata.name, claim: claim.description, field: claim.field, pointer: pointerOf(mineToo.field) });
      }
    }
  }
  return conflicts.sort((a, b) => compareStrings(a.pointer, b.pointer) || compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name) || compareStrings(a.field, b.field));
}

/** Maps a field of the Ingress a friendly route became back to a pointer into the route body. */
export function routePointer(field: string): string {
  const path = /^spec\.rules\[\d+\]\.http\.paths\[(\d+)\]/.exec(field);
  if (path) return `/paths/${path[1]}`;
  if (field.startsWith('spec.defaultBackend')) return '/defaultBackend';
  return pointerOfField(field);
}
