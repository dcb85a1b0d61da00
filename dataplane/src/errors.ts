/** Stable error codes of the data plane. Tests match on these, never on messages. */
export type PorticoErrorCode =
  /** A snapshot could not be turned into a matcher (the cause carries the matcher's own error). */
  | 'PORTICO_E_SNAPSHOT_LOAD'
  /** Router.route was called before any snapshot was loaded. */
  | 'PORTICO_E_NO_SNAPSHOT'
  /** A proxy or router option is out of range (the message names it). */
  | 'PORTICO_E_CONFIG'
  /** A trusted-proxies entry is not an IPv4/IPv6 address or CIDR. */
  | 'PORTICO_E_CIDR'
  /** The control plane answered a sync request with something other than a snapshot or a delta. */
  | 'PORTICO_E_SYNC'
  /** A snapshot's content does not hash to the version it was announced with. */
  | 'PORTICO_E_SNAPSHOT_INVALID'
  /** A port Portico must listen on is taken by another process. */
  | 'PORTICO_E_PORT_IN_USE'
  /** A port below 1024 without the privilege to bind it. */
  | 'PORTICO_E_PORT_DENIED'
  /** Another running Portico holds the data directory. */
  | 'PORTICO_E_DATA_DIR_LOCKED';

/** A programmer or operator mistake that stops the current operation; carries a stable `code`. */
export class PorticoError extends Error {
  readonly code: PorticoErrorCode;

  constructor(code: PorticoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PorticoError';
    this.code = code;
  }
}
