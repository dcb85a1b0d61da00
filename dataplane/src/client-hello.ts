/**
 * The SNI server name of a TLS ClientHello, read before the handshake starts: Node's TLS server
 * asks for a client certificate per server (`requestCert`), not per SNI name, so a connection
 * whose SNI names a host with auth-tls is handed to a server that asks, and every other one to a
 * server that does not (a browser would otherwise offer its certificates to every site). Only the
 * first TLS record is read (at most 16 KiB + its header); a ClientHello split over records, or
 * anything unreadable, counts as no name: that connection is not asked for a certificate, and
 * requests of an auth-tls route on it are refused (fail closed). The same name picks the
 * connections spliced to an endpoint without termination (ssl-passthrough, passthrough.ts); an
 * unreadable ClientHello is terminated here, never spliced.
 */
import type { Socket } from 'node:net';
import { peekAhead } from './peek.ts';

/** Largest TLS record payload (RFC 8446 5.1: 2^14, plus the 256 bytes compression or padding may add). */
const MAX_RECORD = 16_384 + 256;
const HANDSHAKE = 0x16;
const CLIENT_HELLO = 0x01;
const SERVER_NAME = 0x0000;
const HOST_NAME = 0x00;

/**
 * The host_name of the server_name extension in the ClientHello that starts `record` (a whole
 * TLS record, header included), lower-case; '' when it has none or the bytes are not a readable
 * ClientHello. Pure; never throws.
 */
export function serverNameOf(record: Buffer): string {
  if (record.length < 9 || record[0] !== HANDSHAKE || record[5] !== CLIENT_HELLO) return '';
  const end = Math.min(record.length, 5 + record.readUInt16BE(3), 9 + record.readUIntBE(6, 3));
  // version (2) and random (32), then session id, cipher suites, compression methods.
  let at = 9 + 34;
  if (at + 1 > end) return '';
  at += 1 + (record[at] as number);
  if (at + 2 > end) return '';
  at += 2 + record.readUInt16BE(at);
  if (at + 1 > end) return '';
  at += 1 + (record[at] as number);
  if (at + 2 > end) return '';
  const extensionsEnd = Math.min(end, at + 2 + record.readUInt16BE(at));
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = record.readUInt16BE(at);
    const length = record.readUInt16BE(at + 2);
    at += 4;
    if (at + length > extensionsEnd) return '';
    if (type === SERVER_NAME) {
      const listEnd = Math.min(at + length, at + 2 + (length >= 2 ? record.readUInt16BE(at) : 0));
      for (let entry = at + 2; entry + 3 <= listEnd; ) {
        const nameLength = record.readUInt16BE(entry + 1);
        if (entry + 3 + nameLength > listEnd) return '';
        if (record[entry] === HOST_NAME) return record.latin1Slice(entry + 3, entry + 3 + nameLength).toLowerCase();
        entry += 3 + nameLength;
      }
      return '';
    }
    at += length;
  }
  return '';
}

/**
 * Reads the first TLS record of `socket` (within `timeoutMs`, else the socket is destroyed), gives
 * the bytes back to the socket (paused, for the TLS server to read) and calls `then` with the SNI
 * server name ('' for none).
 */
export function sniffServerName(socket: Socket, timeoutMs: number, then: (servername: string) => void): void {
  peekAhead(socket, timeoutMs, (seen) => {
    if (seen[0] !== HANDSHAKE) return '';
    if (seen.length < 5) return undefined;
    const length = seen.readUInt16BE(3);
    if (length > MAX_RECORD) return '';
    return seen.length >= 5 + length ? serverNameOf(seen) : undefined;
  }, then);
}
