import { describe, expect, it } from 'vitest';
import type { GrantFrom } from './cluster-state.ts';
import { ClusterState, grantLookupKey } from './cluster-state.ts';
import type { Ingress, KubeObject, Service } from './objects.ts';

function ingress(resourceVersion: string, path: string, status?: unknown): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: 'web', namespace: 'default', resourceVersion },
    spec: { rules: [{ host: 'a.test', http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    ...(status === undefined ? {} : { status }),
  };
}

describe('ClusterState.upsert', () => {
  it('reports a change only when something the build reads changed', () => {
    const state = new ClusterState();
    expect(state.upsert(ingress('1', '/'))).toBe(true);
    expect(state.upsert(ingress('1', '/'))).toBe(false);
    // Portico's own status write coming back: new resourceVersion, new status, same spec.
    const written = { loadBalancer: { ingress: [{ ip: '10.1.33.159' }] } };
    expect(state.upsert({ ...ingress('2', '/', written), metadata: { ...ingress('2', '/').metadata, managedFields: [{ manager: 'portico' }] } } as Ingress)).toBe(false);
    // ...is still stored, so status planning compares against what the cluster holds now.
    expect(state.ingresses.get('default/web')?.status).toEqual(written);
    expect(state.upsert(ingress('3', '/api', written))).toBe(true);
    const annotated = ingress('4', '/api', written);
    annotated.metadata.annotations = { 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
    expect(state.upsert(annotated)).toBe(true);
  });

  it('stores objects compacted: managedFields dropped, equal subtrees shared, everything else as given; changes are reported as before', () => {
    const state = new ClusterState();
    const managed = (resourceVersion: string, path: string): Ingress => {
      const object = ingress(resourceVersion, path);
      object.spec.rules![0]!.http!.paths.push({ ...object.spec.rules![0]!.http!.paths[0]!, path: `${path}-2` });
      return { ...object, metadata: { ...object.metadata, managedFields: [{ manager: 'kubectl', operation: 'Apply' }] } } as Ingress;
    };
    const first = managed('1', '/');
    const expected = JSON.parse(JSON.stringify(first)) as Ingress & { metadata: { managedFields?: unknown } };
    delete expected.metadata.managedFields;
    expect(state.upsert(first)).toBe(true);
    const stored = state.ingresses.get('default/web')!;
    expect(stored).toEqual(expected);
    expect('managedFields' in stored.metadata).toBe(false);
    const paths = stored.spec.rules![0]!.http!.paths;
    expect(paths[1]!.backend).toBe(paths[0]!.backend);
    // The same object again, or one that differs only in managedFields and resourceVersion: no change.
    expect(state.upsert(managed('1', '/'))).toBe(false);
    expect(state.upsert({ ...managed('2', '/'), metadata: { ...managed('2', '/').metadata, managedFields: [{ manager: 'other' }] } } as Ingress)).toBe(false);
    expect(state.upsert(managed('3', '/v2'))).toBe(true);
    expect(state.ingresses.get('default/web')!.spec.rules![0]!.http!.paths.map((p) => p.path)).toEqual(['/v2', '/v2-2']);
  });

  it('reports no change when an object without resourceVersion comes again with managedFields (they are never stored)', () => {
    const state = new ClusterState();
    const service = (manager: string): Service =>
      ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', managedFields: [{ manager }] }, spec: { ports: [{ port: 80 }] } }) as Service;
    expect(state.upsert(service('kubectl'))).toBe(true);
    state.takeChanges();
    const watch = state.watch(['Service']);
    expect(state.upsert(service('kubectl'))).toBe(false);
    expect(state.upsert(service('other'))).toBe(false);
    expect(state.takeChanges().size).toBe(0); // no rebuild
    expect(watch.take().size).toBe(0); // nothing for status planning either
    const port = service('kubectl');
    port.spec.ports = [{ port: 81 }];
    expect(state.upsert(port)).toBe(true);
  });

  it('keys are namespace/name (default when none)', () => {
    const state = new ClusterState();
    state.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: {} } as Service);
    state.upsert({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'b', namespace: 'team' }, spec: {} } as Service);
    expect([...state.services.keys()]).toEqual(['default/a', 'team/b']);
  });

  it('treats a Service status change as a change (the publish Service address is read from it)', () => {
    const state = new ClusterState();
    const service = (resourceVersion: string, ip?: string): Service => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'edge', namespace: 'portico-system', resourceVersion },
      spec: { ports: [{ port: 80 }] },
      ...(ip === undefined ? {} : { status: { loadBalancer: { ingress: [{ ip }] } } }),
    });
    expect(state.upsert(service('1'))).toBe(true);
    expect(state.upsert(service('2', '10.1.33.159'))).toBe(true);
  });
});

describe('ClusterState ReferenceGrant index', () => {
  const grant = (name: string, from: { kind: string; namespace: string }[], namespace = 'backends'): KubeObject =>
    ({ apiVersion: 'gateway.networking.k8s.io/v1beta1', kind: 'ReferenceGrant', metadata: { name, namespace }, spec: { from: from.map((f) => ({ group: 'gateway.networking.k8s.io', ...f })), to: [{ group: '', kind: 'Service' }] } }) as KubeObject;
  const fromApps = { group: 'gateway.networking.k8s.io', kind: 'HTTPRoute', namespace: 'apps' };
  const names = (state: ClusterState, from: GrantFrom, to: string) => state.referenceGrantsFor(from, to).map((g) => g.metadata.name);

  it('finds the grants in the target namespace that list the referring group, kind and namespace, across replace and remove', () => {
    const state = ClusterState.from([grant('b', [{ kind: 'HTTPRoute', namespace: 'apps' }]), grant('a', [{ kind: 'GRPCRoute', namespace: 'apps' }, { kind: 'HTTPRoute', namespace: 'apps' }]), grant('c', [{ kind: 'HTTPRoute', namespace: 'apps' }], 'other')]);
    expect(names(state, fromApps, 'backends')).toEqual(['a', 'b']);
    expect(names(state, { ...fromApps, kind: 'GRPCRoute' }, 'backends')).toEqual(['a']);
    expect(names(state, { ...fromApps, namespace: 'web' }, 'backends')).toEqual([]);
    expect(names(state, fromApps, 'other')).toEqual(['c']);
    state.takeChanges();
    // `b` now lists another namespace: it no longer answers for apps, and both lookups are journaled.
    state.upsert(grant('b', [{ kind: 'HTTPRoute', namespace: 'web' }]));
    expect(names(state, fromApps, 'backends')).toEqual(['a']);
    expect(names(state, { ...fromApps, namespace: 'web' }, 'backends')).toEqual(['b']);
    expect([...state.takeChanges().get('ReferenceGrant')!].sort()).toEqual([grantLookupKey(fromApps, 'backends'), grantLookupKey({ ...fromApps, namespace: 'web' }, 'backends')].sort());
    state.remove(grant('a', []));
    expect(names(state, fromApps, 'backends')).toEqual([]);
    expect(names(state, { ...fromApps, kind: 'GRPCRoute' }, 'backends')).toEqual([]);
  });

  it('records the lookups a reading makes, found or not', () => {
    const state = ClusterState.from([grant('a', [{ kind: 'HTTPRoute', namespace: 'apps' }])]);
    const { reads } = state.recordReads(() => [state.referenceGrantsFor(fromApps, 'backends'), state.referenceGrantsFor(fromApps, 'none'), state.namespaces.get('apps'), state.gatewayClasses.get('portico')]);
    expect([...reads.referenceGrants]).toEqual([grantLookupKey(fromApps, 'backends'), grantLookupKey(fromApps, 'none')]);
    expect([...reads.namespaces]).toEqual(['apps']);
    expect([...reads.gatewayClasses]).toEqual(['portico']);
  });
});

describe('ClusterState Ingress host index', () => {
  const HOSTS = ['a.test', 'A.Test', 'b.test', '', undefined] as const;
  /** An Ingress `name` with rules on `hosts` (undefined or '': a rule without host) and, with `fallback`, a default backend. */
  const hosted = (name: string, hosts: readonly (string | undefined)[], fallback: boolean): Ingress => ({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name, namespace: 'default' },
    spec: {
      ...(fallback ? { defaultBackend: { service: { name: 'web', port: { number: 80 } } } } : {}),
      rules: hosts.map((host) => ({ ...(host === undefined ? {} : { host }), http: { paths: [{ path: '/', pathType: 'Prefix' as const, backend: { service: { name: 'web', port: { number: 80 } } } }] } })),
    },
  });
  /** What the index must answer, by a scan: the hosts of the rules, lower-cased, `*` for none; `*` for any default backend (it may claim the catch-all). */
  const scan = (state: ClusterState, host: string): string[] =>
    [...state.ingresses]
      .filter(([, ingress]) => {
        const rules = ingress.spec.rules ?? [];
        return rules.some((rule) => (rule.host ? rule.host.toLowerCase() : '*') === host) || (host === '*' && ingress.spec.defaultBackend !== undefined);
      })
      .map(([key]) => key)
      .sort();

  it('answers as a scan of every Ingress would, made mid-way and kept up to date over a random walk of stores, replacements and removals', () => {
    const state = new ClusterState();
    let seed = 7;
    const random = (n: number): number => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return (seed >>> 8) % n;
    };
    for (let step = 0; step < 1500; step++) {
      const name = `i${random(12)}`;
      if (random(4) === 0) state.remove({ kind: 'Ingress', metadata: { name, namespace: 'default' } });
      else state.upsert(hosted(name, Array.from({ length: random(3) }, () => HOSTS[random(HOSTS.length)]), random(2) === 0));
      // The index is made on the first question (step 300); before, stores and removals only touch the maps.
      if (step < 300) continue;
      for (const host of ['a.test', 'b.test', '*', 'A.Test', 'c.test']) expect([...state.ingressesClaiming(host)].sort(), `step ${step}, host ${host}`).toEqual(scan(state, host));
    }
  });

  it('lists an Ingress once per host however many of its rules name it, and under the catch-all for any default backend', () => {
    // A default backend beside host rules may claim the catch-all (when every rule's host is invalid, claims() says so): listed there too.
    const state = ClusterState.from([hosted('twice', ['a.test', 'A.TEST'], true), hosted('fallback', [], true), hosted('plain', [], false), hosted('hosted', ['a.test'], false)]);
    expect([...state.ingressesClaiming('a.test')].sort()).toEqual(['default/hosted', 'default/twice']);
    expect([...state.ingressesClaiming('*')].sort()).toEqual(['default/fallback', 'default/twice']);
  });
});
