/**
 * HTTP/2 error codes and flags (RFC 9113 §7, §6.2) as plain numbers, so that the modules a
 * worker loads before its first HTTP/2 connection do not import node:http2 (which costs RSS in
 * every worker even when no client speaks HTTP/2).
 */
export const NO_ERROR = 0x0;
export const PROTOCOL_ERROR = 0x1;
export const INTERNAL_ERROR = 0x2;
export const SETTINGS_TIMEOUT = 0x4;
export const REFUSED_STREAM = 0x7;
export const CANCEL = 0x8;
export const ENHANCE_YOUR_CALM = 0xb;
/** The END_STREAM flag of a HEADERS frame. */
export const FLAG_END_STREAM = 0x1;
