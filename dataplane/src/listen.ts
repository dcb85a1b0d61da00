/**
 * Listening errors a person can act on: a port in use or a privileged port becomes one line
 * naming the port and the likely cause, and ports can be checked before anything listens.
 */
import { createServer } from 'node:net';
import type { Server } from 'node:net';
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

/** Traffic ports this process has claimed; `release` gives them up (at shutdown). */
export interface PortClaims {
  release(): void;
}

/**
 * Claims each traffic port for this process until `release`, so a second Portico started while
 * this one still waits for its first snapshot (its traffic ports not yet listening) is refused
 * instead of later sharing the ports through SO_REUSEPORT. A claim is a Linux abstract Unix
 * socket named after the address and port: it lives exactly as long as the process (no file to
 * clean up after a crash) and is scoped to the network namespace, like the ports themselves.
 * The name is per (address, port), so a Portico on `0.0.0.0` and one on a single address of the
 * same port are not caught here (the kernel still refuses the pair unless both share). Other
 * systems have no abstract sockets: there the check before listening is all there is.
 */
export async function claimPorts(uses: readonly PortUse[]): Promise<PortClaims> {
  const held: Server[] = [];
  const release = () => {
    for (const server of held.splice(0)) server.close();
  };
  if (process.platform !== 'linux') return { release };
  try {
    for (const use of uses) {
      if (use.port === 0) continue;
      held.push(
        await new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', (error: NodeJS.ErrnoException) => {
            const where = `port ${use.port} (${use.what}) on ${use.address}`;
            reject(error.code === 'EADDRINUSE' ? new PorticoError('PORTICO_E_PORT_IN_USE', `${where} is claimed by another portico on this machine that has not opened it yet (it still waits for its first snapshot). Stop it or choose another port.`, { cause: error }) : error);
          });
          server.listen({ path: `\0portico-traffic-port ${use.address} ${use.port}` }, () => resolve(server.unref()));
        }),
      );
    }
  } catch (error) {
    release();
    throw error;
  }
  return { release };
}

/** Whether `error` is a port Portico could not listen on (fatal for a serving command). */
export function isPortError(error: unknown): error is PorticoError {
  const code = (error as { code?: unknown } | undefined)?.code;
  return code === 'PORTICO_E_PORT_IN_USE' || code === 'PORTICO_E_PORT_DENIED';
}
