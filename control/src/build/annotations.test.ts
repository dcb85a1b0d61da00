import { describe, expect, it } from 'vitest';
import type { Condition } from '../model/conditions.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import { conditionEvent } from '../status/events.ts';
import { readAnnotations, restrictsAccess } from './annotations.ts';

const source = { kind: 'Ingress', namespace: 'web', name: 'admin' };

describe('annotation policy', () => {
  it.each([
    ['auth-url', 'https://auth/verify', true],
    ['auth-type', 'basic', true],
    ['auth-tls-verify-client', 'on', true],
    ['whitelist-source-range', '10.0.0.0/8', true],
    ['denylist-source-range', '1.2.3.4/32', true],
    ['satisfy', 'any', true],
    ['enable-global-auth', 'true', true],
    ['enable-global-auth', 'false', false],
    ['configuration-snippet', 'deny all;', true],
    ['server-snippet', 'location / { allow 10.0.0.0/8; deny all; }', true],
    ['configuration-snippet', 'more_set_headers "X-Frame-Options: DENY";', false],
    ['rewrite-target', '/', false],
    ['proxy-body-size', '8m', false],
  ])('%s: %s restricts access: %s', (name, value, expected) => {
    expect(restrictsAccess(name, value)).toBe(expected);
  });

  it('refuses with one Error condition per access annotation, and the status writer makes each a Warning Event naming it', () => {
    const conditions: Condition[] = [];
    const annotations = { 'nginx.ingress.kubernetes.io/enable-modsecurity': 'true', 'ingress.kubernetes.io/allowlist-source-range': '10.0.0.0/8', 'nginx.ingress.kubernetes.io/ssl-redirect': 'false' };
    const result = readAnnotations(annotations, source, conditions);
    expect(result.refused).toBe('not enforced by Portico, so refused rather than served open: ingress.kubernetes.io/allowlist-source-range, nginx.ingress.kubernetes.io/enable-modsecurity');
    expect(result.sslRedirect).toBe(false);
    expect(conditions.map((c) => [c.reason, c.severity, c.field])).toEqual([
      ['AccessPolicyRefused', 'Error', "metadata.annotations['ingress.kubernetes.io/allowlist-source-range']"],
      ['AccessPolicyRefused', 'Error', "metadata.annotations['nginx.ingress.kubernetes.io/enable-modsecurity']"],
    ]);
    const ingress = { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'admin', namespace: 'web', uid: 'u1', resourceVersion: '7', annotations }, spec: { rules: [] } } as unknown as Ingress;
    const event = conditionEvent(conditions[1]!, ClusterState.from([ingress]), 'portico', 'control-0', new Date(0));
    expect(event?.event).toMatchObject({ type: 'Warning', reason: 'AccessPolicyRefused', involvedObject: { kind: 'Ingress', name: 'admin' } });
    expect((event?.event as { message: string }).message).toContain('nginx.ingress.kubernetes.io/enable-modsecurity');
  });

  it('serves with a Warning per other unknown annotation; annotations of other prefixes are not judged', () => {
    const conditions: Condition[] = [];
    const result = readAnnotations({ 'nginx.ingress.kubernetes.io/proxy-buffering': 'on', 'cert-manager.io/cluster-issuer': 'letsencrypt', 'kubernetes.io/ingress.class': 'portico' }, source, conditions);
    expect(result.refused).toBeUndefined();
    expect(conditions).toMatchObject([{ reason: 'UnsupportedAnnotation', severity: 'Warning', field: "metadata.annotations['nginx.ingress.kubernetes.io/proxy-buffering']" }]);
  });
});
