import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildModel } from '../build/index.ts';
import { DEFAULT_CLASS_SELECTION } from '../build/ingress-class.ts';
import { redirectPolicyOf } from '../model/shared.ts';
import { parseSnapshot } from '../snapshot/schema.ts';
import { parseManifestText } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import { compileSnapshot } from './index.ts';

// The golden inputs: TLS hosts, ssl-redirect off, force-ssl-redirect, default backends, conflicts.
const text = ['hosts-and-defaults', 'conflicts', 'tls-and-redirects', 'endpoints']
  .map((name) => readFileSync(new URL(`../build/testdata/${name}/in.yaml`, import.meta.url), 'utf8'))
  .join('\n---\n');
const objects = parseManifestText(text, 'all.yaml').objects;

/** Every route and default route of a model or snapshot. */
function routesOf(hosts: readonly { routes: readonly object[]; defaultRoute: object | null | undefined }[], catchAll: object | null | undefined): { redirect: object; source: object }[] {
  const defaults = hosts.flatMap((host) => (host.defaultRoute ? [host.defaultRoute] : []));
  return [...hosts.flatMap((host) => host.routes), ...defaults, ...(catchAll ? [catchAll] : [])] as { redirect: object; source: object }[];
}

describe('shared model values (control heap at scale)', () => {
  it('one frozen redirect policy object per distinct value, shared by the model and the snapshot, with the same bytes as a copy', () => {
    const { model } = buildModel(ClusterState.from(objects), DEFAULT_CLASS_SELECTION);
    const snapshot = compileSnapshot(model);
    const routes = [...routesOf(model.virtualHosts, model.defaultRoute), ...routesOf(snapshot.hosts, snapshot.defaultRoute)];
    expect(routes.length).toBeGreaterThan(10);
    const distinct = new Set(routes.map((route) => route.redirect));
    // The inputs cover redirecting and non-redirecting routes: more than one form, at most the four there are.
    expect(distinct.size).toBeGreaterThan(1);
    expect(distinct.size).toBeLessThanOrEqual(4);
    for (const policy of distinct) {
      expect(Object.isFrozen(policy)).toBe(true);
      const { sslRedirect, forceSslRedirect } = policy as { sslRedirect: boolean; forceSslRedirect: boolean };
      expect(policy).toBe(redirectPolicyOf(sslRedirect, forceSslRedirect));
      expect(Object.keys(policy)).toEqual(['sslRedirect', 'forceSslRedirect']);
    }
    // A write to a shared policy would change every route: strict mode (ES modules) throws instead.
    expect(() => {
      (redirectPolicyOf(false, false) as { sslRedirect: boolean }).sslRedirect = true;
    }).toThrow(TypeError);
    // The wire form is what a fresh copy of every object gives: parsing it back checks the version.
    const wire = JSON.parse(JSON.stringify(snapshot)) as unknown;
    expect(parseSnapshot(wire).version).toBe(snapshot.version);
  });

  it('the snapshot shares the model route\'s source and, when every backend is its own snapshot form, its backend list', () => {
    const { model } = buildModel(ClusterState.from(objects), DEFAULT_CLASS_SELECTION);
    const snapshot = compileSnapshot(model);
    let sharedLists = 0;
    model.virtualHosts.forEach((host, h) => {
      host.routes.forEach((route, r) => {
        const compiled = snapshot.hosts[h]!.routes[r]!;
        expect(compiled.source).toBe(route.source);
        const plain = route.backends.every((b) => typeof b.endpointSet === 'string' && Object.keys(b).join() === 'namespace,service,port,weight,endpointSet');
        // A backend with TLS, a protocol or no endpoint set has another snapshot form: a compiled copy, never the model's.
        expect(compiled.backends === route.backends).toBe(plain);
        if (plain) sharedLists++;
        else for (const [i, b] of route.backends.entries()) expect(compiled.backends[i] === b).toBe(typeof b.endpointSet === 'string' && Object.keys(b).join() === 'namespace,service,port,weight,endpointSet');
      });
    });
    expect(sharedLists).toBeGreaterThan(5);
    // An unresolved backend (no endpoint set) is compiled to endpointSet null: not shared.
    const unresolved = snapshot.hosts.flatMap((host) => host.routes).flatMap((route) => route.backends).filter((b) => b.endpointSet === null);
    expect(unresolved.length).toBeGreaterThan(0);
    expect(parseSnapshot(JSON.parse(JSON.stringify(snapshot)) as unknown).version).toBe(snapshot.version);
  });
});
