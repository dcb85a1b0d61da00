/**
 * Names and methods the request parser recognizes: which field lines the forwarder acts on
 * (by kind), and which methods it accepts (those llhttp knows).
 */
import { LOWER, equalsLower } from './chars.ts';

/** Field-line kinds the forwarder acts on. */
export const K_OTHER = 0;
export const K_HOST = 1;
export const K_CONTENT_LENGTH = 2;
export const K_TRANSFER_ENCODING = 3;
export const K_CONNECTION = 4;
/** Keep-Alive, Proxy-Connection, TE, Trailer: always dropped. */
export const K_HOP = 5;
export const K_UPGRADE = 6;
export const K_XFF = 7;
export const K_XF_PROTO = 8;
export const K_XF_HOST = 9;
export const K_XF_PORT = 10;
export const K_REAL_IP = 11;
export const K_REQUEST_ID = 12;

/**
 * Methods llhttp knows: Node's `http.METHODS` for the Node version in package.json, written out
 * because loading `node:http` for this list alone costs a data-plane worker about 14 MiB RSS
 * (it pulls in HTTP/2, zlib and undici); a test holds the copy equal to Node's. Other
 * well-formed tokens answer 501: accepting methods Node's own parser refuses would make Portico
 * the weaker parser.
 */
export const LLHTTP_METHODS: readonly string[] = ['ACL', 'BIND', 'CHECKOUT', 'CONNECT', 'COPY', 'DELETE', 'GET', 'HEAD', 'LINK', 'LOCK', 'M-SEARCH', 'MERGE', 'MKACTIVITY', 'MKCALENDAR', 'MKCOL', 'MOVE', 'NOTIFY', 'OPTIONS', 'PATCH', 'POST', 'PROPFIND', 'PROPPATCH', 'PURGE', 'PUT', 'QUERY', 'REBIND', 'REPORT', 'SEARCH', 'SOURCE', 'SUBSCRIBE', 'TRACE', 'UNBIND', 'UNLINK', 'UNLOCK', 'UNSUBSCRIBE'];

const KNOWN_METHODS: ReadonlySet<string> = new Set(LLHTTP_METHODS);

/** Classifies a field name by its length and lower-cased first byte, then compares the rest; K_OTHER for the rest. */
export function fieldKind(buf: Uint8Array, start: number, end: number): number {
  const first = LOWER[buf[start] as number];
  switch (end - start) {
    case 2: return first === 0x74 && equalsLower(buf, start, end, 'te') ? K_HOP : K_OTHER;
    case 4: return first === 0x68 && equalsLower(buf, start, end, 'host') ? K_HOST : K_OTHER;
    case 7:
      if (first === 0x75) return equalsLower(buf, start, end, 'upgrade') ? K_UPGRADE : K_OTHER;
      return first === 0x74 && equalsLower(buf, start, end, 'trailer') ? K_HOP : K_OTHER;
    case 9: return first === 0x78 && equalsLower(buf, start, end, 'x-real-ip') ? K_REAL_IP : K_OTHER;
    case 10:
      if (first === 0x63) return equalsLower(buf, start, end, 'connection') ? K_CONNECTION : K_OTHER;
      return first === 0x6b && equalsLower(buf, start, end, 'keep-alive') ? K_HOP : K_OTHER;
    case 12: return first === 0x78 && equalsLower(buf, start, end, 'x-request-id') ? K_REQUEST_ID : K_OTHER;
    case 14: return first === 0x63 && equalsLower(buf, start, end, 'content-length') ? K_CONTENT_LENGTH : K_OTHER;
    case 15: return first === 0x78 && equalsLower(buf, start, end, 'x-forwarded-for') ? K_XFF : K_OTHER;
    case 16:
      if (first === 0x78) return equalsLower(buf, start, end, 'x-forwarded-host') ? K_XF_HOST : equalsLower(buf, start, end, 'x-forwarded-port') ? K_XF_PORT : K_OTHER;
      return first === 0x70 && equalsLower(buf, start, end, 'proxy-connection') ? K_HOP : K_OTHER;
    case 17:
      if (first === 0x74) return equalsLower(buf, start, end, 'transfer-encoding') ? K_TRANSFER_ENCODING : K_OTHER;
      return first === 0x78 && equalsLower(buf, start, end, 'x-forwarded-proto') ? K_XF_PROTO : K_OTHER;
    default: return K_OTHER;
  }
}

/** The method as an interned string for the common ones (no allocation), else a copy; '' when llhttp would not know it. */
export function methodString(buf: Buffer, start: number, end: number): string {
  const b0 = buf[start];
  switch (end - start) {
    case 3:
      if (b0 === 0x47 && buf[start + 1] === 0x45 && buf[start + 2] === 0x54) return 'GET';
      if (b0 === 0x50 && buf[start + 1] === 0x55 && buf[start + 2] === 0x54) return 'PUT';
      break;
    case 4:
      if (b0 === 0x50 && buf[start + 1] === 0x4f && buf[start + 2] === 0x53 && buf[start + 3] === 0x54) return 'POST';
      if (b0 === 0x48 && buf[start + 1] === 0x45 && buf[start + 2] === 0x41 && buf[start + 3] === 0x44) return 'HEAD';
      break;
  }
  const method = buf.latin1Slice(start, end);
  return KNOWN_METHODS.has(method) ? method : '';
}
