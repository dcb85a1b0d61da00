/**
 * Recording and replaying what one object's derivation used from a build, for the per-object
 * cache (GatewayCache): the endpoint sets it resolved and the certificates it
 * registered. A reused derivation replays them, so the build's endpoint sets and certificates are
 * exactly those of a fresh derivation.
 */
import type { Condition } from '../model/conditions.ts';
import type { SourceRef } from '../model/types.ts';
import type { EndpointSets, SetUse } from './backends.ts';
import type { UseCertificate } from './ingress.ts';

/** One `useCertificate` call of a derivation. */
export interface CertificateUse {
  readonly namespace: string;
  readonly name: string;
  readonly hosts: readonly string[];
  readonly source: SourceRef;
  readonly field: string;
}

/** What a derivation used. */
export interface DerivationUses {
  readonly sets: readonly SetUse[];
  readonly certificates: readonly CertificateUse[];
}

/** Runs `derive` with a recording `useCertificate`, and returns its result with what it used. */
export function recordDerivation<T>(sets: EndpointSets, useCertificate: UseCertificate, derive: (use: UseCertificate) => T): { readonly value: T; readonly uses: DerivationUses } {
  const setUses: SetUse[] = [];
  const certificates: CertificateUse[] = [];
  const recording: UseCertificate = (namespace, name, hosts, source, field, conditions) => {
    certificates.push({ namespace, name, hosts, source, field });
    return useCertificate(namespace, name, hosts, source, field, conditions);
  };
  sets.record(setUses);
  try {
    return { value: derive(recording), uses: { sets: setUses, certificates } };
  } finally {
    sets.record(undefined);
  }
}

/** Registers again, with this build, the endpoint sets and certificates a reused derivation used. */
export function replayDerivation(uses: DerivationUses, sets: EndpointSets, useCertificate: UseCertificate): void {
  for (const use of uses.sets) sets.resolve(use.service, use.servicePort, use.ingressPort);
  // The conditions these calls add are already part of the reused derivation.
  const scratch: Condition[] = [];
  for (const use of uses.certificates) useCertificate(use.namespace, use.name, use.hosts, use.source, use.field, scratch);
}
