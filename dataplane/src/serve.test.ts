import { sealSnapshot } from '@portico/control/snapshot';
import { describe, expect, it } from 'vitest';
import { startServing } from './serve.ts';
import { snapshotOf } from './test-support.ts';

describe('startServing with worker processes', () => {
  it('resolves a load once every worker serves it, and rejects one a worker cannot load while all keep the last good version', async () => {
    const serving = await startServing({ workers: 2, address: '127.0.0.1', httpPort: 0, httpsPort: 0, adminAddress: '127.0.0.1', adminPort: 0, accessLog: false, logLevel: 'silent' });
    try {
      const good = snapshotOf([{ host: 'a.test', routes: [{ path: '/', endpoints: [9] }] }]);
      await serving.load(good);
      expect(serving.version).toBe(good.version);

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
});
