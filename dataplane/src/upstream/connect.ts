/**
 * Opening a connection to an endpoint, the one way the HTTP/1.1 pool (pool.ts), the HTTP/2
 * sessions (h2-pool.ts) and mirror copies (mirror.ts) do it: TCP without Nagle's delay and with
 * keepalive probes, a hostname resolved through the endpoint address policy's `lookup` (so it
 * never reaches a refused address), and for a backend spoken to over TLS the handshake with its
 * settings (tls.ts) followed by the verification they ask for. The name is checked by
 * `verifyPeer` against `verifyName`, with the chain depth, not by Node: SNI may be off.
 */
import { connect } from 'node:net';
import type { OnReadOpts, Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { EndpointAddressPolicy } from './address-policy.ts';
import type { UpstreamTlsTarget } from './tls.ts';
import { verifyPeer } from './tls.ts';

/** How to connect to one endpoint. */
export interface EndpointConnection {
  /** TCP keepalive probes after this much silence. */
  readonly keepAliveMs: number;
  /** Hostnames are resolved through its `lookup`; undefined: plain DNS. */
  readonly addressPolicy: EndpointAddressPolicy | undefined;
  /** TLS settings; undefined: plain TCP. */
  readonly tls?: UpstreamTlsTarget | undefined;
  /** The protocol offered by ALPN over TLS; `h2` must be the one negotiated. Default `http/1.1`. */
  readonly alpn?: 'http/1.1' | 'h2';
  /** Reads into the caller's memory instead of 'data' events. */
  readonly onread?: OnReadOpts;
}

/**
 * A socket connecting to address:port. `ready` runs once it is connected and, over TLS, the
 * handshake and verification succeeded; a verification or ALPN failure destroys the socket with
 * an error naming why (its 'error' and 'close' events tell).
 */
export function connectEndpoint(address: string, port: number, how: EndpointConnection, ready?: () => void): Socket {
  const options = {
    host: address,
    port,
    noDelay: true,
    keepAlive: true,
    keepAliveInitialDelay: how.keepAliveMs,
    ...(how.addressPolicy === undefined ? {} : { lookup: how.addressPolicy.lookup }),
    ...(how.onread === undefined ? {} : { onread: how.onread }),
  };
  const tls = how.tls;
  if (tls === undefined) {
    const socket = connect(options);
    if (ready !== undefined) socket.on('connect', ready);
    return socket;
  }
  const alpn = how.alpn ?? 'http/1.1';
  const socket = connectTls({
    ...options,
    secureContext: tls.secureContext,
    ...(tls.serverName === undefined ? {} : { servername: tls.serverName }),
    rejectUnauthorized: tls.verify,
    // The name is checked below, with the chain depth, against verifyName (SNI may be off).
    checkServerIdentity: () => undefined,
    ALPNProtocols: [alpn],
  });
  // tls.connect does not take these from its options.
  socket.setNoDelay(true);
  socket.setKeepAlive(true, how.keepAliveMs);
  socket.on('secureConnect', () => {
    const problem = tls.verify ? verifyPeer(tls, socket.getPeerCertificate(true)) : undefined;
    if (problem !== undefined) socket.destroy(problem);
    else if (alpn === 'h2' && socket.alpnProtocol !== 'h2') socket.destroy(Object.assign(new Error(`endpoint did not negotiate HTTP/2 (ALPN ${JSON.stringify(socket.alpnProtocol || 'none')})`), { code: 'ERR_PORTICO_ALPN' }));
    else ready?.();
  });
  return socket;
}
