import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compileSnapshot } from '../compile/index.ts';
import { redactSnapshot } from '../snapshot/redact.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { KubeObject, Secret } from '../state/objects.ts';
import { retainedSecret } from '../state/objects.ts';
import { DEFAULT_CLASS_SELECTION } from './ingress-class.ts';
import { buildModel } from './index.ts';
import { backendProtocol, readUpstreamPolicy } from './upstream.ts';
import type { Condition } from '../model/conditions.ts';

/** A self-signed certificate and its key (PEM), and a second unrelated key. */
function keyPair(): { cert: string; key: string; otherKey: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-upstream-'));
  try {
    const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1', '-subj', '/CN=portico-client', '-keyout', 'k.pem', '-out', 'c.pem']);
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'o.pem']);
    return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8'), otherKey: readFileSync(join(dir, 'o.pem'), 'utf8') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

function objects(secretData: Record<string, string>): KubeObject[] {
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'app', namespace: 'web' }, spec: { ports: [{ port: 443 }] } },
    { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'app-1', namespace: 'web', labels: { 'kubernetes.io/service-name': 'app' } }, addressType: 'IPv4', ports: [{ port: 8443 }], endpoints: [{ addresses: ['10.0.0.1'] }] },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'upstream', namespace: 'web' }, type: 'Opaque', data: secretData },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name: 'app', namespace: 'web', annotations: { 'nginx.ingress.kubernetes.io/backend-protocol': 'HTTPS', 'nginx.ingress.kubernetes.io/proxy-ssl-secret': 'web/upstream' } },
      spec: { ingressClassName: 'portico', rules: [{ host: 'app.test', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'app', port: { number: 443 } } } }] } }] },
    },
  ] as unknown as KubeObject[];
}

describe('proxy-ssl-secret', () => {
  const pki = keyPair();

  it('Opaque Secrets keep ca.crt, tls.crt and tls.key only beside a ca.crt, and nothing else', () => {
    const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's', namespace: 'web' }, type: 'Opaque', data: { 'ca.crt': 'Y2E=', 'tls.crt': 'Yw==', 'tls.key': 'aw==', password: 'cA==' } } as Secret;
    expect(retainedSecret(secret)?.data).toEqual({ 'ca.crt': 'Y2E=', 'tls.crt': 'Yw==', 'tls.key': 'aw==' });
    expect(retainedSecret({ ...secret, data: { 'tls.crt': 'Yw==', 'tls.key': 'aw==', password: 'cA==' } })).toBeUndefined();
  });

  it('compiles CA and client certificate into the backend; the export shows the key as a fingerprint', () => {
    const { model, conditions } = buildModel(ClusterState.from(objects({ 'ca.crt': b64(pki.cert), 'tls.crt': b64(pki.cert), 'tls.key': b64(pki.key) })), DEFAULT_CLASS_SELECTION);
    expect(conditions).toEqual([]);
    const snapshot = compileSnapshot(model);
    const tls = snapshot.hosts[0]!.routes[0]!.backends[0]!.tls;
    expect(tls).toMatchObject({ secret: 'web/upstream', caPem: pki.cert, certificatePem: pki.cert, privateKeyPem: pki.key, verify: false, serverName: null, verifyName: 'app.web.svc' });
    const exported = redactSnapshot(snapshot).hosts[0]!.routes[0]!.backends[0]!.tls!;
    expect(exported.privateKeyPem).toMatch(/^<redacted sha256:[0-9a-f]{64}>$/);
    expect(JSON.stringify(redactSnapshot(snapshot))).not.toContain('PRIVATE KEY');
  });

  it.each([
    ['no ca.crt', { 'tls.crt': b64(pki.cert), 'tls.key': b64(pki.key) }, /has no ca\.crt/],
    ['a key that is not the certificate’s', { 'ca.crt': b64(pki.cert), 'tls.crt': b64(pki.cert), 'tls.key': b64(pki.otherKey) }, /tls\.key does not match tls\.crt/],
    ['only tls.crt', { 'ca.crt': b64(pki.cert), 'tls.crt': b64(pki.cert) }, /only one of tls\.crt and tls\.key/],
    ['a ca.crt that is not PEM', { 'ca.crt': b64('hello') }, /holds no PEM certificate/],
  ])('refuses the Ingress (503) for %s, with a SecretInvalid Error', (_name, data, message) => {
    const { model, conditions } = buildModel(ClusterState.from(objects(data)), DEFAULT_CLASS_SELECTION);
    expect(conditions).toMatchObject([{ reason: 'SecretInvalid', severity: 'Error', field: "metadata.annotations['nginx.ingress.kubernetes.io/proxy-ssl-secret']" }]);
    expect(conditions[0]!.message).toMatch(message);
    expect(model.virtualHosts[0]!.routes[0]!.refused).toMatch(/proxy-ssl-secret unusable/);
    expect(model.virtualHosts[0]!.routes[0]!.backends[0]!.tls).toBeUndefined();
  });
});

describe('backend protocol', () => {
  const source = { kind: 'Ingress', namespace: 'web', name: 'app' };
  const policy = (annotations: Record<string, string>) => readUpstreamPolicy(annotations, 'web', ClusterState.from([]), source, []);
  const decide = (annotations: Record<string, string>, appProtocol: string | undefined) => {
    const conditions: Condition[] = [];
    const result = backendProtocol(policy(annotations), appProtocol, { namespace: 'web', name: 'app' }, 'web/app:80', source, 'spec', conditions);
    return { protocol: result.protocol, tls: result.tls !== undefined, refused: result.refused, conditions };
  };
  const BP = 'nginx.ingress.kubernetes.io/backend-protocol';

  it.each([
    ['backend-protocol GRPC', { [BP]: 'GRPC' }, undefined, 'grpc', false],
    ['backend-protocol grpcs (any case)', { [BP]: 'grpcs' }, undefined, 'grpc', true],
    ['backend-protocol H2C', { [BP]: 'H2C' }, undefined, 'h2', false],
    ['backend-protocol HTTPS', { [BP]: 'HTTPS' }, undefined, undefined, true],
    ['appProtocol kubernetes.io/h2c', {}, 'kubernetes.io/h2c', 'h2', false],
    ['appProtocol grpc', {}, 'grpc', 'grpc', false],
    ['appProtocol h2 (ALPN token: over TLS)', {}, 'h2', 'h2', true],
    ['appProtocol kubernetes.io/wss', {}, 'kubernetes.io/wss', undefined, true],
    ['the annotation over appProtocol', { [BP]: 'HTTP' }, 'kubernetes.io/h2c', undefined, false],
    ['H2C over appProtocol https', { [BP]: 'H2C' }, 'https', 'h2', false],
  ] as const)('%s', (_name, annotations, appProtocol, protocol, tls) => {
    const decided = decide(annotations, appProtocol);
    expect(decided).toMatchObject({ protocol, tls, refused: undefined });
    expect(decided.conditions).toEqual([]);
  });

  it.each(['AUTO_HTTP', 'AJP', 'FCGI', 'SPDY'])('refuses backend-protocol %s with an UnsupportedBackendProtocol Error', (value) => {
    const conditions: Condition[] = [];
    const read = readUpstreamPolicy({ [BP]: value }, 'web', ClusterState.from([]), source, conditions);
    expect(read.refused).toMatch(value);
    expect(conditions).toMatchObject([{ reason: 'UnsupportedBackendProtocol', severity: 'Error', field: `metadata.annotations['${BP}']` }]);
  });

  it('an unknown appProtocol is HTTP/1.1 with a Warning naming the port', () => {
    const decided = decide({}, 'example.com/custom');
    expect(decided).toMatchObject({ protocol: undefined, tls: false, refused: undefined });
    expect(decided.conditions).toMatchObject([{ reason: 'UnsupportedBackendProtocol', severity: 'Warning' }]);
    expect(decided.conditions[0]!.message).toContain('web/app:80');
  });
});
