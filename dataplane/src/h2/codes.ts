/**
 * HTTP/2 error codes and flags (RFC 9113 §7, §6.2) as plain numbers, so that the modules a
 * worker loads before its first HTTP/2 connection do not import node:http2 (which costs RSS in
 * every worker even when no client speaks HTTP/2).
 */
/** Graceful: nothing went wrong (GOAWAY on idle close, RST_STREAM for a body no longer wanted). */
export const NO_ERROR = 0x0;
/** A malformed request or frame. */
export const PROTOCOL_ERROR = 0x1;
/** Portico's side failed mid-response (the endpoint broke off). */
export const INTERNAL_ERROR = 0x2;
/** The client's SETTINGS did not come in time. */
export const SETTINGS_TIMEOUT = 0x4;
/** A stream refused before any processing (Portico is shutting down). */
export const REFUSED_STREAM = 0x7;
/** The connection stalled both ways past the client timeout. */
export const CANCEL = 0x8;
/** The client resets streams too fast (CVE-2023-44487). */
export const ENHANCE_YOUR_CALM = 0xb;
/** The client must use HTTP/1.1 (prior-knowledge HTTP/2 on a port that does not serve it). */
export const HTTP_1_1_REQUIRED = 0xd;
/** The END_STREAM flag of a HEADERS frame. */
export const FLAG_END_STREAM = 0x1;
