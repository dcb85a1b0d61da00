import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NodeRegistry } from '../nodes/registry.ts';
import { gunzipSync } from 'node:zlib';
import { applyDelta } from '../snapshot/delta.ts';
import type { TestControl } from './test-support.ts';
import { serviceWithEndpoints, testControl } from './test-support.ts';

const post = (body: unknown): RequestInit => ({ method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const route = (name: string, host: string) => ({ name, hosts: [host], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] });

let control: TestControl;
beforeEach(async () => {
  control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']) });
});
afterEach(() => control.close());

describe('GET /v1/sync', () => {
  it('answers the full snapshot at once when the node has none', async () => {
    const response = await control.request('/v1/sync?node=edge-1');
    expect(response.status).toBe(200);
    const current = control.history.current()!.snapshot;
    expect(response.headers.get('x-portico-change')).toBe('full');
    expect(response.headers.get('etag')).toBe(`"${current.version}"`);
    expect(await response.json()).toEqual({ type: 'full', version: current.version, snapshot: current });
  });

  it('holds the request until the version changes (long-poll), else 304 after the timeout', async () => {
    const known = control.history.current()!.snapshot.version;
    const started = Date.now();
    const idle = await control.request(`/v1/sync?node=edge-1&known=${known}&timeout=1`);
    expect(idle.status).toBe(304);
    expect(idle.headers.get('x-portico-version')).toBe(known);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);

    const pending = control.request(`/v1/sync?node=edge-1&known=${known}&timeout=10`);
    // Wait until the long-poll is registered (a fixed sleep is too short on a loaded machine).
    let listed: { nodes: unknown[] } = { nodes: [] };
    for (let i = 0; i < 200 && !(listed.nodes[0] as { connected?: boolean } | undefined)?.connected; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      listed = await (await control.request('/v1/nodes')).json();
    }
    expect(listed.nodes[0]).toMatchObject({ name: 'edge-1', connected: true, appliedVersion: known });
    const writeAt = Date.now();
    await control.request('/v1/routes', post(route('a', 'a.example.com')));
    const response = await pending;
    expect(response.status).toBe(200);
    // Answered by the change, not by the 10 s timeout.
    expect(Date.now() - writeAt).toBeLessThan(5000);
    expect((await response.json()).version).toBe(control.history.current()!.snapshot.version);
  });

  it('sends only the endpoint sets that changed; applied to the known copy they hash to the new version', async () => {
    await control.request('/v1/routes', post(route('a', 'a.example.com')));
    const base = control.history.current()!.snapshot;
    control.state.upsert(serviceWithEndpoints('default', 'web', 80, ['10.0.0.1', '10.0.0.9'])[1]!);
    control.rebuild();
    const response = await control.request(`/v1/sync?node=edge-1&known=${base.version}`);
    expect(response.headers.get('x-portico-change')).toBe('endpoints');
    const body = await response.json();
    expect(body).toMatchObject({ type: 'delta', from: base.version, hosts: { set: [], remove: [] }, certificates: { set: [], remove: [] } });
    expect(body.endpointSets.set.map((set: { key: string }) => set.key)).toEqual(['default/web:80']);
    expect(applyDelta(JSON.parse(JSON.stringify(base)), body).version).toBe(body.version);
    const full = await (await control.request(`/v1/sync?node=edge-1&known=${base.version}&delta=0`)).json();
    expect(full.type).toBe('full');
  });

  it('sends route changes as a delta of the changed hosts, encoded once for every node asking the same', async () => {
    const base = control.history.current()!.snapshot;
    await control.request('/v1/routes', post(route('a', 'a.example.com')));
    const next = control.history.current()!.snapshot;
    const answers = await Promise.all(['edge-1', 'edge-2', 'edge-3'].map((node) => control.request(`/v1/sync?node=${node}&known=${base.version}`, { headers: { 'accept-encoding': 'gzip' } })));
    const bodies = await Promise.all(answers.map(async (answer) => Buffer.from(await answer.arrayBuffer())));
    expect(answers.map((answer) => answer.headers.get('x-portico-change'))).toEqual(['delta', 'delta', 'delta']);
    expect(bodies[1]).toEqual(bodies[0]);
    const body = JSON.parse(gunzipSync(bodies[0]!).toString());
    expect(body.hosts.set.map((host: { host: string }) => host.host)).toEqual(['a.example.com']);
    expect(applyDelta(JSON.parse(JSON.stringify(base)), body).version).toBe(next.version);
    // A version the replica does not hold in full gets the whole snapshot.
    const unknown = await (await control.request(`/v1/sync?node=edge-4&known=sha256:${'0'.repeat(64)}`)).json();
    expect(unknown).toMatchObject({ type: 'full', version: next.version });
  });

  it('does not send a skipped (NACKed) version again', async () => {
    const known = control.history.current()!.snapshot.version;
    await control.request('/v1/routes', post(route('a', 'a.example.com')));
    const bad = control.history.current()!.snapshot.version;
    expect((await control.request(`/v1/sync?node=edge-1&known=${known}&skip=${bad}&timeout=1`)).status).toBe(304);
  });

  it('requires a node name', async () => {
    expect((await control.request('/v1/sync')).status).toBe(400);
  });
});

describe('node status and rollout', () => {
  it('records ACKs and NACKs and reports the rollout of the current version as n of m', async () => {
    const current = control.history.current()!.snapshot.version;
    expect((await control.request('/v1/nodes/edge-1/status', post({ version: current, ok: true }))).status).toBe(200);
    const nack = await control.request('/v1/nodes/edge-2/status', post({ version: current, ok: false, error: 'PORTICO_E_SNAPSHOT_LOAD: boom' }));
    expect(await nack.json()).toMatchObject({ name: 'edge-2', appliedVersion: null, lastReport: { version: current, ok: false, error: 'PORTICO_E_SNAPSHOT_LOAD: boom' } });
    const list = await (await control.request('/v1/nodes')).json();
    expect(list).toMatchObject({ current, rollout: { version: current, updated: 1, total: 2, failed: 1, complete: false } });
    expect(list.nodes.map((n: { name: string }) => n.name)).toEqual(['edge-1', 'edge-2']);
    expect((await control.request('/v1/nodes/edge-1/status', post({ version: current }))).status).toBe(422);
    expect((await control.request('/v1/nodes/Bad_Node/status', post({ version: current, ok: true }))).status).toBe(400);
  });

  it('exports connected nodes as a metric while a long-poll is open', async () => {
    const known = control.history.current()!.snapshot.version;
    const pending = control.request(`/v1/sync?node=edge-1&known=${known}&timeout=2`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const metrics = await (await control.app.request('/metrics')).text();
    expect(metrics).toContain('portico_dataplane_nodes_connected 1');
    expect(metrics).toMatch(/portico_api_requests_total\{method="GET",route="\/v1\/nodes\/?[^"]*"|portico_api_requests_total/);
    await pending;
  });
});

describe('NodeRegistry', () => {
  it('marks nodes stale after the interval and leaves them out of the rollout', () => {
    let now = 0;
    const nodes = new NodeRegistry({ staleAfterMs: 1000, now: () => now });
    nodes.report('a', { version: 'v1', ok: true });
    now = 500;
    nodes.report('b', { version: 'v1', ok: true });
    now = 1200;
    expect(nodes.list().map((n) => [n.name, n.stale])).toEqual([['a', true], ['b', false]]);
    expect(nodes.rollout('v1')).toEqual({ version: 'v1', updated: 1, total: 1, failed: 0, complete: true });
  });

  it('keeps at most maxNodes, dropping the longest unseen', () => {
    let now = 0;
    const nodes = new NodeRegistry({ maxNodes: 2, now: () => now++ });
    for (const name of ['a', 'b', 'c']) nodes.report(name, { version: 'v', ok: true });
    expect(nodes.list().map((n) => n.name)).toEqual(['b', 'c']);
  });
});
