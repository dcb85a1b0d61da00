/**
 * Listening errors a person can act on: a port in use or a privileged port becomes one line
 * naming the port and the likely cause, and ports can be checked before anything listens.
 */
import { createServer } from 'node:net';
import { PorticoError } from './errors.ts';

/** A port Portico is about to listen on, and what it is for (`--http-port`, `http`, …). */
export interface PortUse {
  readonly port: number;
  readonly address: string;
  readonly what: string;
}

/**
 * Turns a listen error into PORTICO_E_PORT_IN_USE / PORTICO_E_PORT_DENIED with one line naming
 * the port; any other error is returned as it is.
 */
export function listenError(error: unknown, use: PortUse): Error {
  const code = (error as NodeJS.ErrnoException).code;
  const where = `port ${use.port} (${use.what}) on ${use.address}`;
  if (code === 'EADDRINUSE') return new PorticoError('PORTICO_E_PORT_IN_USE', `${where} is in use: another process listens there (another portico, e.g. a second \`npm start\`, or another web server; \`ss -ltnp 'sport = :${use.port}'\` shows which). Stop it or choose another port.`, { cause: error });
  if (code === 'EACCES') return new PorticoError('PORTICO_E_PORT_DENIED', `${where} needs privileges: ports below 1024 need root or CAP_NET_BIND_SERVICE (deploy/hostnetwork grants it). Choose a port above 1023 or grant the capability.`, { cause: error });
  if (code === 'EADDRNOTAVAIL') return new PorticoError('PORTICO_E_CONFIG', `${where}: ${use.address} is not an address of this machine.`, { cause: error });
  return error as Error;
}

/**
 * Checks that each port can be bound exclusively (no SO_REUSEPORT, so a running Portico's
 * shared ports count as taken), closing each again at once. Rejects with `listenError`'s error
 * for the first that cannot. Port 0 needs no check.
 */
export async function checkPortsFree(uses: readonly PortUse[]): Promise<void> {
  for (const use of uses) {
    if (use.port === 0) continue;
    await new Promise<void>((resolve, reject) => {
      const server = createServer();
      server.once('error', (error) => reject(listenError(error, use)));
      server.listen({ port: use.port, host: use.address, exclusive: true }, () => server.close(() => resolve()));
    });
  }
}

/** Whether `error` is a port Portico could not listen on (fatal for a serving command). */
export function isPortError(error: unknown): error is PorticoError {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'PORTICO_E_PORT_IN_USE' || code === 'PORTICO_E_PORT_DENIED';
}
