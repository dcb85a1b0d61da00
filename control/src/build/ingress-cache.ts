/**
 * Memoized per-Ingress derivation for the incremental control plane: an Ingress whose object and
 * whose inputs did not change since the last build is not read again; its candidate routes,
 * default backends, TLS claims and conditions are reused, and the endpoint sets and certificates
 * it used are registered again with the current build (endpoints themselves are always recomputed).
 *
 * Validity, invalidating more rather than less: an entry is reused only for the very same Ingress
 * object (ClusterState stores a new object on every change), and the whole cache is dropped when
 * any Service or Secret was stored or removed since the last build (a derivation reads Services
 * for ports and protocols, Secrets for auth, upstream CAs and certificates). IngressClasses and the
 * class selection are not inputs of a derivation: which Ingresses are served is decided afresh on
 * every build. EndpointSlices are read only through the endpoint sets, which are rebuilt every time.
 */
import type { ClusterState } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import type { EndpointSets } from './backends.ts';
import type { DerivationUses } from './derivation.ts';
import { recordDerivation, replayDerivation } from './derivation.ts';
import type { IngressContribution, UseCertificate } from './ingress.ts';
import { readIngress } from './ingress.ts';

interface Entry {
  readonly ingress: Ingress;
  readonly contribution: IngressContribution;
  readonly uses: DerivationUses;
}

/** Per-Ingress derivations of the previous build, reused by the next one when still valid. */
export class IngressCache {
  private entries = new Map<string, Entry>();
  private next = new Map<string, Entry>();
  private services = -1;
  private secrets = -1;
  /** Derivations computed (`derived`) and reused (`reused`) so far. */
  readonly stats = { derived: 0, reused: 0 };

  /** Starts a build over `state`: drops every entry when a Service or Secret changed since the last one. */
  begin(state: ClusterState): void {
    const services = state.revision('Service');
    const secrets = state.revision('Secret');
    if (services !== this.services || secrets !== this.secrets) this.entries.clear();
    this.services = services;
    this.secrets = secrets;
    this.next = new Map();
  }

  /** What `ingress` contributes: reused when the same object was derived last build, else read now. */
  contribution(key: string, ingress: Ingress, state: ClusterState, sets: EndpointSets, useCertificate: UseCertificate): IngressContribution {
    const cached = this.entries.get(key);
    if (cached !== undefined && cached.ingress === ingress) {
      replayDerivation(cached.uses, sets, useCertificate);
      this.next.set(key, cached);
      this.stats.reused++;
      return cached.contribution;
    }
    const { value: contribution, uses } = recordDerivation(sets, useCertificate, (use) => readIngress(ingress, state, sets, use));
    this.next.set(key, { ingress, contribution, uses });
    this.stats.derived++;
    return contribution;
  }

  /** Ends a build: keeps only the entries of Ingresses it served (removed or unserved ones are dropped). */
  end(): void {
    this.entries = this.next;
    this.next = new Map();
  }
}
