/** Reading the SNI name of a ClientHello ahead of the handshake: real ClientHellos from Node's TLS client, cut and mutated ones. */
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { serverNameOf } from './client-hello.ts';
import { LOOPBACK } from './test-support.ts';

/** The first bytes a TLS client sends (its ClientHello record), with SNI `servername` (undefined: none). */
async function clientHello(servername: string | undefined): Promise<Buffer> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, LOOPBACK, resolve));
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket) => {
        let seen = Buffer.alloc(0);
        socket.on('data', (chunk: Buffer) => {
          seen = Buffer.concat([seen, chunk]);
          if (seen.length >= 5 && seen.length >= 5 + seen.readUInt16BE(3)) {
            socket.destroy();
            resolve(seen);
          }
        });
      });
      const client = connect({ host: LOOPBACK, port: (server.address() as AddressInfo).port, ...(servername === undefined ? {} : { servername }) });
      client.on('error', () => {});
      setTimeout(() => reject(new Error('no ClientHello')), 5000);
    });
  } finally {
    server.close();
  }
}

describe('serverNameOf', () => {
  it('reads the SNI name of a real ClientHello, lower-case; none without SNI', async () => {
    expect(serverNameOf(await clientHello('MTLS.Example.test'))).toBe('mtls.example.test');
    expect(serverNameOf(await clientHello(undefined))).toBe('');
  });

  it('never throws and never invents a name on cut, mutated or foreign bytes', async () => {
    const hello = await clientHello('a.test');
    for (let cut = 0; cut < hello.length; cut += 7) expect(serverNameOf(hello.subarray(0, cut))).toMatch(/^(|a\.test)$/);
    let seed = 7;
    const random = (): number => ((seed = (seed * 1_103_515_245 + 12_345) & 0x7fffffff), seed);
    for (let round = 0; round < 2000; round++) {
      const mutated = Buffer.from(hello);
      for (let flips = 0; flips < 4; flips++) mutated[random() % mutated.length] = random() & 0xff;
      expect(() => serverNameOf(mutated)).not.toThrow();
    }
    expect(serverNameOf(Buffer.from('GET / HTTP/1.1\r\nHost: a.test\r\n\r\n'))).toBe('');
    expect(serverNameOf(Buffer.alloc(0))).toBe('');
  });
});
