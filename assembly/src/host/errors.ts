/** Stable error codes of the matcher package. Tests match on these, never on messages. */
export type PorticoErrorCode =
  /** The table violates the MatcherTable contract (the message names the host/path/route). */
  | 'PORTICO_E_TABLE_INVALID'
  /** Bytes given to loadMatcherFromBinary are not a table this matcher version can load. */
  | 'PORTICO_E_TABLE_CORRUPT'
  /** build/matcher.wasm is missing: `npm run build` in assembly/ has not been run. */
  | 'PORTICO_E_MATCHER_NOT_BUILT'
  /** An endpoint id outside [0, endpointCount) was given to setHealthy/isHealthy. */
  | 'PORTICO_E_ENDPOINT_RANGE'
  /** A pooled matcher was retained or released after its last holder released it (matcher-pool.ts). */
  | 'PORTICO_E_MATCHER_RETIRED';

/** A programmer or operator mistake that stops the current operation; carries a stable `code`. */
export class PorticoError extends Error {
  readonly code: PorticoErrorCode;

  constructor(code: PorticoErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PorticoError';
    this.code = code;
  }
}
