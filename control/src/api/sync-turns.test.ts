// A publish that answers many long-polls writes them a batch per turn of the event loop, so a
// request arriving meanwhile is served between two batches, and `answered()` (what standalone's
// local data plane waits for before loading) resolves only once every answer went out.
import { request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { AnswerTurns } from './sync.ts';
import type { TestControl } from './test-support.ts';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';

describe('AnswerTurns', () => {
  it('lets 45 waiting answers go 20, 20, then 5, one batch per turn, and is idle a turn after the last', async () => {
    const turns = new AnswerTurns(20);
    let turn = 0;
    // Counts turns of the event loop: one increment per check phase.
    let counting = true;
    const count = () => {
      turn++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const released: number[] = [];
    const all = Array.from({ length: 45 }, () => turns.next().then(() => released.push(turn)));
    let idleAt = -1;
    const idle = turns.idle().then(() => (idleAt = turn));
    await Promise.all([...all, idle]);
    counting = false;
    const batches = [...new Set(released)];
    expect(batches).toHaveLength(3);
    expect(batches.map((b) => released.filter((t) => t === b).length)).toEqual([20, 20, 5]);
    expect(batches[1]! - batches[0]!).toBeGreaterThanOrEqual(1);
    expect(idleAt).toBeGreaterThan(batches[2]!);
    // Nothing waiting: idle at once.
    await turns.idle();
  });
});

let control: TestControl;
let server: Awaited<ReturnType<typeof listen>>;

afterEach(async () => {
  await server?.close();
  control?.close();
});

function sync(node: string, known: string, onAnswer: () => void): Promise<number> {
  const query = new URLSearchParams({ node, known, timeout: '20' });
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: server.port, path: `/v1/sync?${query}`, headers: { Authorization: `Bearer ${TEST_TOKEN}`, 'Accept-Encoding': 'gzip' } }, (res) => {
      onAnswer();
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
      res.on('error', reject);
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`no sync answer for ${node} within 30 s`)));
    req.on('error', reject);
    req.end();
  });
}

describe('answers of one publish', () => {
  it('answers 60 waiting nodes, and answered() resolves only after every answer was written', async () => {
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), syncTimeoutMs: 20_000 });
    server = await listen(control.app);
    const base = control.history.current()!.version;
    let heard = 0;
    const waiting = Array.from({ length: 60 }, (_, i) => sync(`edge-${i}`, base, () => heard++));
    const deadline = Date.now() + 15_000;
    const connected = async () => ((await (await control.request('/v1/nodes')).json()) as { nodes: { connected: boolean }[] }).nodes.filter((n) => n.connected).length;
    while ((await connected()) < 60) {
      if (Date.now() > deadline) throw new Error('the nodes did not all long-poll within 15 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const answers = async () => {
      const text = await (await control.request('/metrics')).text();
      const line = text.split('\n').find((l) => l.startsWith('portico_api_requests_total{method="GET",route="/v1/sync",status="200"}'));
      return line === undefined ? 0 : Number(line.split(' ').at(-1));
    };
    const response = await control.request('/v1/routes', { method: 'POST', body: JSON.stringify({ name: 'a', hosts: ['a.example.com'], paths: [{ path: '/', backends: [{ service: 'web', port: 80 }] }] }), headers: { 'content-type': 'application/json' } });
    expect(response.status).toBe(201);
    // Published, but the delta is encoded in a task of its own and the answers go out in batches.
    expect(await answers()).toBeLessThan(60);
    // As standalone waits: one turn (the answered long-polls ask for their body), then answered().
    await new Promise((resolve) => setImmediate(resolve));
    await control.answered();
    expect(await answers()).toBe(60);
    expect(await Promise.all(waiting)).toEqual(Array.from({ length: 60 }, () => 200));
    expect(heard).toBe(60);
  }, 60_000);
});
