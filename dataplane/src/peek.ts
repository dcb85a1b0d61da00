/**
 * Reading a connection's first bytes to decide how to serve it (the TLS ClientHello's server name,
 * the HTTP/2 connection preface), then giving them back for whoever serves it.
 */
import type { Socket } from 'node:net';

/**
 * Reads `socket` until `decide` returns a value for the bytes seen so far (undefined: read more),
 * puts those bytes back (the socket paused, for the next reader) and calls `then` with the value.
 * A client that sends nothing conclusive within `timeoutMs` is closed; one that closes first never
 * reaches `then`.
 */
export function peekAhead<T>(socket: Socket, timeoutMs: number, decide: (seen: Buffer) => T | undefined, then: (value: T) => void): void {
  let seen: Buffer | undefined;
  const timer = setTimeout(() => socket.destroy(), timeoutMs);
  const onData = (chunk: Buffer): void => {
    seen = seen === undefined ? chunk : Buffer.concat([seen, chunk]);
    const value = decide(seen);
    if (value === undefined) return;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('close', onClose);
    socket.pause();
    socket.unshift(seen);
    then(value);
  };
  const onClose = (): void => clearTimeout(timer);
  socket.on('data', onData);
  socket.on('close', onClose);
}
