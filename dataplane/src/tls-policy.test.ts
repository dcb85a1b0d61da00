import { connect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { generate } from 'selfsigned';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataPlane } from './dataplane.ts';
import { LOOPBACK } from './test-support.ts';
import { tlsPolicyOptions } from './tls.ts';

/** Handshakes with the listener as a client offering only what `options` allows; resolves with the negotiated suite or the error code. */
function handshake(port: number, options: ConnectionOptions): Promise<{ cipher?: string; version?: string; error?: string }> {
  return new Promise((resolve) => {
    const socket = connect({ host: LOOPBACK, port, rejectUnauthorized: false, servername: 'policy.test', ...options }, () => {
      resolve({ cipher: socket.getCipher().standardName, version: socket.getProtocol() ?? '' });
      socket.destroy();
    });
    socket.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
  });
}

// An RSA certificate: static-RSA and ECDHE-RSA suites are only possible with one.
async function rsaPair() {
  const pems = await generate([{ name: 'commonName', value: 'policy.test' }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
  return { certificatePem: pems.cert, privateKeyPem: pems.private };
}

describe('TLS policy on the HTTPS listener (real handshakes)', () => {
  let intermediate: DataPlane;
  let strict: DataPlane;

  beforeAll(async () => {
    const defaultCertificate = await rsaPair();
    intermediate = await DataPlane.start({ address: LOOPBACK, httpPort: 0, httpsPort: 0, defaultCertificate });
    strict = await DataPlane.start({ address: LOOPBACK, httpPort: 0, httpsPort: 0, defaultCertificate, tls: { minVersion: 'TLSv1.3' } });
  });

  afterAll(async () => {
    await intermediate.close(200);
    await strict.close(200);
  });

  const refused = [
    { name: 'static RSA key exchange, CBC (AES128-SHA)', ciphers: 'AES128-SHA' },
    { name: 'static RSA key exchange, GCM (AES128-GCM-SHA256)', ciphers: 'AES128-GCM-SHA256' },
    { name: 'ECDHE with CBC and SHA-1 (ECDHE-RSA-AES128-SHA)', ciphers: 'ECDHE-RSA-AES128-SHA' },
    { name: 'ECDHE with CBC and SHA-384 (ECDHE-RSA-AES256-SHA384)', ciphers: 'ECDHE-RSA-AES256-SHA384' },
    { name: 'ARIA (ECDHE-ARIA128-GCM-SHA256)', ciphers: 'ECDHE-ARIA128-GCM-SHA256' },
  ];
  for (const { name, ciphers } of refused) {
    it(`refuses a TLS 1.2 client that offers only ${name}`, async () => {
      const result = await handshake(intermediate.ports.https as number, { ciphers, maxVersion: 'TLSv1.2' });
      expect(result.error).toBeDefined();
      expect(result.cipher).toBeUndefined();
    });
  }

  it('accepts TLS 1.2 with ECDHE + AEAD and TLS 1.3 by default', async () => {
    expect(await handshake(intermediate.ports.https as number, { ciphers: 'ECDHE-RSA-AES128-GCM-SHA256', maxVersion: 'TLSv1.2' })).toEqual({ cipher: 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', version: 'TLSv1.2' });
    expect(await handshake(intermediate.ports.https as number, { ciphers: 'ECDHE-RSA-CHACHA20-POLY1305', maxVersion: 'TLSv1.2' })).toMatchObject({ version: 'TLSv1.2' });
    expect(await handshake(intermediate.ports.https as number, {})).toMatchObject({ version: 'TLSv1.3' });
  });

  it('with a TLS 1.3 minimum, refuses TLS 1.2 clients', async () => {
    expect((await handshake(strict.ports.https as number, { maxVersion: 'TLSv1.2' })).error).toBeDefined();
    expect(await handshake(strict.ports.https as number, {})).toMatchObject({ version: 'TLSv1.3' });
  });

  it('refuses a cipher string OpenSSL cannot use, naming it', () => {
    expect(() => tlsPolicyOptions({ ciphers: 'NOT-A-CIPHER' })).toThrow(expect.objectContaining({ code: 'PORTICO_E_CONFIG', message: expect.stringContaining('NOT-A-CIPHER') }));
  });
});
