/** Stable error codes. Tests match on these, never on messages. */
export type PorticoErrorCode =
  | 'PORTICO_E_MANIFEST_READ'
  | 'PORTICO_E_MANIFEST_PARSE'
  | 'PORTICO_E_MANIFEST_SCHEMA'
  | 'PORTICO_E_SNAPSHOT_INVALID'
  | 'PORTICO_E_USAGE'
  | 'PORTICO_E_REQUESTS_FILE';

/** A programmer or operator mistake that stops the current operation; user object mistakes are conditions instead. */
export class PorticoError extends Error {
  readonly code: PorticoErrorCode;

  constructor(code: PorticoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PorticoError';
    this.code = code;
  }
}
