import { sealSnapshot } from '@portico/control/snapshot';
import { describe, expect, it } from 'vitest';
import { startServing } from './serve.ts';
import { httpGet as getText, snapshotOf } from './test-support.ts';

describe('startServing with worker processes', () => {
  it('resolves a load once every worker serves it, and rejects one a worker cannot load while all keep the last good version', async () => {
    const serving = await startServing({ workers: 2, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent' });
    try {
      const good = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [9] }] }]);
      await serving.load(good);
      expect(serving.version).toBe(good.version);
      // Each worker tells how often it reclaimed replaced tables (reclaim.ts): never, for tables this small.
      const reclaims = (await getText(serving.ports.admin, '/metrics')).body.split('\n').filter((line) => line.startsWith('portico_worker_reclaims_total{'));
      expect(reclaims.map((line) => line.slice(line.lastIndexOf(' ') + 1))).toEqual(['0', '0']);

      // Valid JSON with a certificate no TLS stack accepts: only the workers find out.
      const { version: _version, ...content } = good;
      const bad = sealSnapshot({
        ...content,
        hosts: content.hosts.map((host) => ({ ...host, tls: true, certificate: 'test/broken' })),
        certificates: [{ secret: 'test/broken', hosts: ['a.test'], certificatePem: 'not a certificate', privateKeyPem: 'not a key' }],
      });
      await expect(serving.load(bad)).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD' });
      expect(serving.version).toBe(good.version);
    } finally {
      await serving.close(2000);
    }
  }, 30_000);

  it('--reclaim-after-mb: a worker collects once the tables it swapped in reach the threshold; 0 never', async () => {
    // 8,000 hosts make a table of about 1.1 MB: over a 1 MiB threshold in one swap.
    const large = snapshotOf(Array.from({ length: 8000 }, (_, index) => ({ host: `h${index}.test`, routes: [{ path: '/', endpoints: [9] }] })));
    const reclaimsOf = async (serving: { ports: { admin: number } }) =>
      (await getText(serving.ports.admin, '/metrics')).body
        .split('\n')
        .filter((line) => line.startsWith('portico_worker_reclaims_total{'))
        .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
    for (const [reclaimAfterMb, expected] of [[1, [1, 1]], [0, [0, 0]]] as const) {
      const serving = await startServing({ workers: 2, reclaimAfterMb, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent' });
      try {
        await serving.load(large);
        // The collection runs on a turn after the swap: wait for it (bounded), then for nothing more.
        const deadline = Date.now() + 10_000;
        let reclaims = await reclaimsOf(serving);
        while (reclaims.some((count, index) => count !== expected[index]) && Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          reclaims = await reclaimsOf(serving);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
        expect({ reclaimAfterMb, reclaims: await reclaimsOf(serving) }).toEqual({ reclaimAfterMb, reclaims: [...expected] });
      } finally {
        await serving.close(2000);
      }
    }
  }, 60_000);

  it('all or none: when one worker refuses a snapshot the others took, they roll back to the last good one', async () => {
    const good = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [9] }] }]);
    const bad = snapshotOf([{ host: 'b.test', routes: [{ path: '/', endpoints: [9] }] }]);
    // Worker 2 (cluster id) fails to load `bad`; worker 1 loads it fine.
    const serving = await startServing({ workers: 2, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent', workerFaults: { failLoad: { worker: 2, version: bad.version } } });
    try {
      await serving.load(good);
      await expect(serving.load(bad)).rejects.toMatchObject({ code: 'PORTICO_E_SNAPSHOT_LOAD', message: expect.stringContaining('injected failure') });
      // Worker 1 may take `bad` after worker 2 refused it: the rollback is done once it has swapped
      // three times (good, bad, good again), worker 2 once, both say `good` and the primary has
      // the confirmation. Bounded wait.
      const state = async () => {
        const lines = (await getText(serving.ports.admin, '/metrics')).body.split('\n');
        const versions = lines.filter((line) => line.startsWith('portico_snapshot_info{')).map((line) => /version="([^"]+)"/.exec(line)?.[1]);
        const swaps = lines.filter((line) => line.startsWith('portico_snapshot_swaps_total{')).reduce((sum, line) => sum + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
        return { versions, swaps, primary: serving.version };
      };
      const settled = { versions: [good.version, good.version], swaps: 4, primary: good.version };
      let seen = await state();
      for (let i = 0; i < 100 && JSON.stringify(seen) !== JSON.stringify(settled); i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        seen = await state();
      }
      expect(seen).toEqual(settled);
      // Whichever worker the kernel hands a connection to, b.test is unknown again.
      for (let i = 0; i < 20; i++) expect((await getText(serving.ports.http, '/', 'b.test')).status).toBe(404);
    } finally {
      await serving.close(2000);
    }
  }, 30_000);
});
