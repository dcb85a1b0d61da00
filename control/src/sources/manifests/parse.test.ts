import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadManifests } from './load.ts';
import { parseManifestText } from './parse.ts';
import type { Secret } from '../../state/objects.ts';

const service = (name: string) => `apiVersion: v1\nkind: Service\nmetadata: { name: ${name} }\nspec: { ports: [{ port: 80 }] }\n`;

describe('parseManifestText', () => {
  it('reads multi-document YAML and puts namespace-less objects in default', () => {
    const { objects, problems } = parseManifestText(`${service('a')}---\n${service('b')}---\n`, 'f.yaml');
    expect(problems).toEqual([]);
    expect(objects.map((o) => `${o.metadata.namespace}/${o.metadata.name}`)).toEqual(['default/a', 'default/b']);
  });

  it('reads JSON objects and kubectl List kinds, items counted as documents', () => {
    const list = { apiVersion: 'v1', kind: 'List', items: [{ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' } }, { apiVersion: 'v1', kind: 'Service', metadata: {} }] };
    const { objects, problems } = parseManifestText(JSON.stringify(list), 'list.json');
    expect(objects).toHaveLength(1);
    expect(problems).toMatchObject([{ code: 'PORTICO_E_MANIFEST_SCHEMA', file: 'list.json', document: 1, field: 'metadata.name' }]);
  });

  const cases: { name: string; text: string; problem: Record<string, unknown> }[] = [
    { name: 'YAML syntax error', text: 'apiVersion: v1\nkind: Service\nmetadata: {name: [x\n', problem: { code: 'PORTICO_E_MANIFEST_PARSE', severity: 'error' } },
    { name: 'not an object', text: '- just\n- a list\n', problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'apiVersion' } },
    { name: 'kind Portico does not read', text: 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n', problem: { code: 'PORTICO_W_MANIFEST_IGNORED', severity: 'warning', field: 'kind' } },
    {
      name: 'bad pathType names the field',
      text: 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec:\n  rules:\n  - http:\n      paths:\n      - {path: /, pathType: Regex, backend: {service: {name: s, port: {number: 80}}}}\n',
      problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'spec.rules[0].http.paths[0].pathType' },
    },
    {
      name: 'port with both number and name',
      text: 'apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata: {name: i}\nspec:\n  defaultBackend: {service: {name: s, port: {number: 80, name: http}}}\n',
      problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'spec.defaultBackend.service.port' },
    },
    {
      name: 'an EndpointSlice address that is not of its addressType names the address (never dialled or resolved)',
      text: 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\nports: [{port: 80}]\nendpoints:\n- addresses: [10.0.0.1]\n- addresses: [10.0.0.2, not-an-ip]\n',
      problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'endpoints[1].addresses[1]', message: expect.stringContaining('"not-an-ip" is not an IPv4 address (addressType IPv4)') },
    },
    {
      name: 'an IPv6 address in an IPv4 EndpointSlice',
      text: 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: IPv4\nendpoints:\n- addresses: ["::1"]\n',
      problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'endpoints[0].addresses[0]' },
    },
    {
      name: 'an FQDN EndpointSlice address that is no DNS name',
      text: 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: e}\naddressType: FQDN\nendpoints:\n- addresses: ["Evil Host"]\n',
      problem: { code: 'PORTICO_E_MANIFEST_SCHEMA', field: 'endpoints[0].addresses[0]' },
    },
    { name: 'duplicate keys', text: 'apiVersion: v1\nkind: Service\nkind: Service\nmetadata: {name: a}\n', problem: { code: 'PORTICO_E_MANIFEST_PARSE' } },
  ];
  it.each(cases)('$name', ({ text, problem }) => {
    const result = parseManifestText(`${service('ok')}---\n${text}`, 'bad.yaml');
    expect(result.problems).toHaveLength(1);
    expect(result.problems[0]).toMatchObject({ file: 'bad.yaml', document: 1, ...problem });
    // The good document beside the bad one still loads.
    expect(result.objects.map((o) => o.metadata.name)).toEqual(['ok']);
  });

  it('keeps kubernetes.io/tls Secrets, and of others only the `auth` key (basic auth), dropping every other key', () => {
    const text =
      'apiVersion: v1\nkind: Secret\nmetadata: {name: opaque}\ntype: Opaque\ndata: {password: c2VjcmV0}\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: cert}\ntype: kubernetes.io/tls\n' +
      '---\napiVersion: v1\nkind: Secret\nmetadata: {name: htpasswd}\ntype: Opaque\ndata: {auth: Zm9vOntQTEFJTn1iYXI=, dbPassword: c2VjcmV0}\nstringData: {other: x}\n';
    const objects = parseManifestText(text, 's.yaml').objects;
    expect(objects.map((o) => o.metadata.name)).toEqual(['cert', 'htpasswd']);
    const htpasswd = objects[1] as Secret;
    expect([htpasswd.data, htpasswd.stringData]).toEqual([{ auth: 'Zm9vOntQTEFJTn1iYXI=' }, undefined]);
  });
});

describe('loadManifests', () => {
  it('reads .yaml, .yml and .json recursively in path order, skipping hidden and other files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-manifests-'));
    await mkdir(join(dir, 'sub'));
    await mkdir(join(dir, '.git'));
    await writeFile(join(dir, 'b.yml'), service('b'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'sub', 'c.json'), JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'c' } }));
    await writeFile(join(dir, '.git', 'd.yaml'), service('d'));
    await writeFile(join(dir, 'notes.txt'), 'not a manifest');
    await writeFile(join(dir, 'broken.yaml'), 'kind: [');
    const { objects, problems } = await loadManifests(dir);
    expect(objects.map((o) => o.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(problems).toMatchObject([{ file: 'broken.yaml', code: 'PORTICO_E_MANIFEST_PARSE' }]);
  });

  it('lists every problem of a file with 300,000 of them (hostile: no spread of them overflows the stack)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'portico-manifests-'));
    await writeFile(join(dir, 'a.yaml'), service('a'));
    await writeFile(join(dir, 'big.json'), JSON.stringify({ apiVersion: 'v1', kind: 'List', items: Array.from({ length: 300_000 }, () => ({})) }));
    const { objects, problems } = await loadManifests(dir);
    expect(objects.map((o) => o.metadata.name)).toEqual(['a']);
    expect(problems).toHaveLength(300_000);
    expect(problems[299_999]).toMatchObject({ file: 'big.json', code: 'PORTICO_E_MANIFEST_SCHEMA' });
  });

  it('throws for a directory that does not exist', async () => {
    await expect(loadManifests('/nonexistent/portico')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
