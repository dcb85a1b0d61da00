/**
 * auth-url naming a cluster Service: the build resolves it to that Service port's endpoints, an
 * EndpointSlice change alone refills them exactly as a full build would, re-settling only the host
 * whose auth set changed.
 */
import { describe, expect, it } from 'vitest';
import { STANDALONE_SELECTION } from '../api/test-support.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject } from '../state/objects.ts';
import { IncrementalBuild } from './incremental.ts';
import { buildModel } from './index.ts';

const service = (name: string, namespace: string): KubeObject => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, spec: { ports: [{ name: 'http', port: 80 }] } }) as KubeObject;
const slice = (name: string, namespace: string, addresses: string[]): KubeObject =>
  ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name}-1`, namespace, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 4180 }],
  }) as KubeObject;
const ingress: KubeObject = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'Ingress',
  metadata: { name: 'app', namespace: 'default', annotations: { 'nginx.ingress.kubernetes.io/auth-url': 'http://oauth2-proxy.auth.svc.cluster.local/oauth2/auth' } },
  spec: { rules: [{ host: 'app.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
} as KubeObject;

const authOf = (model: ReturnType<typeof buildModel>['model']) => model.virtualHosts[0]!.routes[0]!.policies?.externalAuth;

describe('auth-url Service resolution', () => {
  it('resolves <svc>.<ns>.svc.cluster.local to that Service port endpoints, in another namespace too', () => {
    const state = ClusterState.from([service('web', 'default'), slice('web', 'default', ['10.0.0.1']), service('oauth2-proxy', 'auth'), slice('oauth2-proxy', 'auth', ['10.1.0.1', '10.1.0.2']), ingress]);
    const auth = authOf(buildModel(state, STANDALONE_SELECTION).model);
    expect(auth).toMatchObject({ service: { namespace: 'auth', name: 'oauth2-proxy', port: 80 }, endpointSet: 'auth/oauth2-proxy:80', endpoints: [{ address: '10.1.0.1', port: 4180 }, { address: '10.1.0.2', port: 4180 }] });
  });

  it('an EndpointSlice change alone refills the auth endpoints as a full build does', () => {
    const state = ClusterState.from([service('web', 'default'), slice('web', 'default', ['10.0.0.1']), service('oauth2-proxy', 'auth'), slice('oauth2-proxy', 'auth', ['10.1.0.1']), ingress]);
    const incremental = new IncrementalBuild(state, STANDALONE_SELECTION);
    incremental.build();
    state.upsert(slice('oauth2-proxy', 'auth', ['10.1.0.9']));
    const settled = incremental.stats.settled;
    const refreshed = incremental.build();
    expect(refreshed.endpointOnly).toBe(true);
    expect(incremental.stats.settled - settled).toBe(1);
    expect(authOf(refreshed.model)?.endpoints).toEqual([{ address: '10.1.0.9', port: 4180 }]);
    expect(JSON.stringify(refreshed.model)).toBe(JSON.stringify(buildModel(state, STANDALONE_SELECTION).model));
    // A change to another Service's endpoints leaves the route object as it was.
    state.upsert(slice('web', 'default', ['10.0.0.2']));
    expect(incremental.build().model.virtualHosts[0]!.routes[0]).toBe(refreshed.model.virtualHosts[0]!.routes[0]);
  });

  it('a missing Service is an Error condition naming auth-url, and no endpoints (500 on the data plane)', () => {
    const result = buildModel(ClusterState.from([service('web', 'default'), ingress]), STANDALONE_SELECTION);
    expect(authOf(result.model)).toMatchObject({ endpointSet: null, endpoints: [] });
    expect(result.conditions).toContainEqual(expect.objectContaining({ reason: 'InvalidAnnotation', severity: 'Error', field: "metadata.annotations['nginx.ingress.kubernetes.io/auth-url']" }));
  });
});
