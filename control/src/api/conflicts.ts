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
import type { Ingress } from '../state/objects.ts';
import type { ConflictRef } from './problem.ts';
import { pointerOfField } from './problem.ts';

/** What the API checks writes against. */
export interface ServedIngresses {
  /** Every Ingress Portico serves now, from every source (manifests, informers, the store). */
  ingresses(): Iterable<Ingress>;
  /** Whether Portico would serve this Ingress (its class); a write of another class conflicts with nothing. */
  serves(ingress: Ingress): boolean;
}

/** ServedIngresses read from a ClusterState with a class selection (what composition roots pass). */
export function servedFrom(state: ClusterState, selection: ClassSelection): ServedIngresses {
  return {
    *ingresses() {
      for (const ingress of state.ingresses.values()) if (servesIngress(ingress, state, selection)) yield ingress;
    },
    serves: (ingress) => servesIngress(ingress, state, selection),
  };
}

interface Claim {
  readonly key: string;
  readonly description: string;
  readonly field: string;
}

/** The claims of one Ingress, as the build stage keys them. */
function claims(ingress: Ingress): Claim[] {
  const out: Claim[] = [];
  const hosts: string[] = [];
  let hostless = false;
  (ingress.spec.rules ?? []).forEach((rule, i) => {
    const host = rule.host === undefined || rule.host === '' ? '*' : rule.host.toLowerCase();
    if (host !== '*' && hostProblem(host) !== undefined) return;
    if (host === '*') hostless = true;
    else hosts.push(host);
    rule.http?.paths.forEach((path, j) => {
      const value = path.path ?? '/';
      const exact = path.pathType === 'Exact';
      out.push({
        key: `path ${pathClaimKey(host, path.pathType, value)}`,
        description: `host ${host} ${exact ? 'Exact' : 'Prefix'} ${exact ? value : normalizePrefix(value)}`,
        field: `spec.rules[${i}].http.paths[${j}]`,
      });
    });
  });
  if (ingress.spec.defaultBackend !== undefined) {
    const targets = hosts.length > 0 ? [...hosts, ...(hostless ? ['*'] : [])] : ['*'];
    for (const host of targets) {
      out.push({ key: `default ${host}`, description: host === '*' ? 'the catch-all default backend' : `the default backend of host ${host}`, field: 'spec.defaultBackend' });
    }
  }
  return out;
}

/**
 * The served Ingresses a write of `candidate` would collide with (other than the object itself),
 * each naming the claim both make; `pointerOf` maps a candidate field to a pointer into the body.
 */
export function findConflicts(candidate: Ingress, served: ServedIngresses, pointerOf: (field: string) => string = pointerOfField): ConflictRef[] {
  const namespace = candidate.metadata.namespace ?? 'default';
  const name = candidate.metadata.name;
  const conflicts: ConflictRef[] = [];
  const mine = new Map(claims(candidate).map((claim) => [claim.key, claim]));
  for (const other of served.ingresses()) {
    const otherNamespace = other.metadata.namespace ?? 'default';
    if (otherNamespace === namespace && other.metadata.name === name) continue;
    if (!served.serves(candidate)) break;
    for (const claim of claims(other)) {
      const own = mine.get(claim.key);
      if (own === undefined) continue;
      conflicts.push({ kind: 'Ingress', namespace: otherNamespace, name: other.metadata.name, claim: claim.description, field: claim.field, pointer: pointerOf(own.field) });
    }
  }
  return conflicts.sort((a, b) => (a.pointer < b.pointer ? -1 : a.pointer > b.pointer ? 1 : a.namespace < b.namespace ? -1 : a.namespace > b.namespace ? 1 : a.name < b.name ? -1 : 1));
}

/** Maps a field of the Ingress a friendly route became back to a pointer into the route body. */
export function routePointer(field: string): string {
  const path = /^spec\.rules\[\d+\]\.http\.paths\[(\d+)\]/.exec(field);
  if (path) return `/paths/${path[1]}`;
  if (field.startsWith('spec.defaultBackend')) return '/defaultBackend';
  return pointerOfField(field);
}
