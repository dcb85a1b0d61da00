/**
 * Memoized per-route derivation for the Gateway processor of a full build (`buildModel`; the
 * incremental build re-runs the processor without it, since reuse would hide a route's reads): a
 * route whose object and inputs did not change since the last build is not read again; its
 * claims, TLS claims, conditions and status are reused, and the endpoint sets and certificates it
 * used are registered again with the current build.
 *
 * Validity, invalidating more rather than less: an entry is reused only for the very same route
 * object, and the whole cache is dropped when any Service, Secret, GatewayClass, Gateway,
 * ReferenceGrant or Namespace was stored or removed since the last build (a derivation reads all
 * of them: attachment, hostnames, certificates, backends, grants).
 */
import type { ClusterState } from '../../state/cluster-state.ts';
import type { GRPCRoute, HTTPRoute } from '../../state/gateway-objects.ts';
import type { KubeObject } from '../../state/objects.ts';
import type { EndpointSets } from '../backends.ts';
import type { DerivationUses } from '../derivation.ts';
import { recordDerivation, replayDerivation } from '../derivation.ts';
import type { UseCertificate } from '../ingress.ts';
import type { RouteContribution, RouteReader } from './index.ts';
import type { RouteKind } from './listeners.ts';

const INPUT_KINDS: readonly KubeObject['kind'][] = ['Service', 'Secret', 'GatewayClass', 'Gateway', 'ReferenceGrant', 'Namespace'];

interface Entry {
  readonly route: HTTPRoute | GRPCRoute;
  readonly contribution: RouteContribution;
  readonly uses: DerivationUses;
}

/** Per-route derivations of the previous build, reused by the next one when still valid. */
export class GatewayCache {
  private entries = new Map<string, Entry>();
  private next = new Map<string, Entry>();
  private revisions = '';
  /** Derivations computed (`derived`) and reused (`reused`) so far. */
  readonly stats = { derived: 0, reused: 0 };

  /** Starts a build over `state`: drops every entry when an input kind changed since the last one. */
  begin(state: ClusterState): void {
    const revisions = INPUT_KINDS.map((kind) => state.revision(kind)).join(',');
    if (revisions !== this.revisions) this.entries.clear();
    this.revisions = revisions;
    this.next = new Map();
  }

  /** What `route` contributes: reused when the same object was derived last build, else read with `read`. */
  contribution(kind: RouteKind, key: string, route: HTTPRoute | GRPCRoute, sets: EndpointSets, useCertificate: UseCertificate, read: (use: UseCertificate) => RouteReader): RouteContribution {
    const slot = `${kind}/${key}`;
    const cached = this.entries.get(slot);
    if (cached !== undefined && cached.route === route) {
      replayDerivation(cached.uses, sets, useCertificate);
      this.next.set(slot, cached);
      this.stats.reused++;
      return cached.contribution;
    }
    const { value: contribution, uses } = recordDerivation(sets, useCertificate, (use) => read(use)(kind, route));
    this.next.set(slot, { route, contribution, uses });
    this.stats.derived++;
    return contribution;
  }

  /** Ends a build: keeps only the entries of routes it read. */
  end(): void {
    this.entries = this.next;
    this.next = new Map();
  }
}
