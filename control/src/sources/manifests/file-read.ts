/**
 * How the parser thread reads a manifest file: into one buffer it reuses from file to file (grown
 * to the largest file read, never past the limit), so an edit of a 3 MB file allocates no new
 * ArrayBuffer on either isolate (on the main isolate such allocations start full markings of its
 * whole heap once enough of them add up). And whether a file's content is blank.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** What reading one file gave: its bytes (a view of the shared buffer, valid until the next read), or why not. */
export type FileRead = { readonly ok: true; readonly bytes: Buffer } | { readonly ok: false; readonly code: 'PORTICO_E_MANIFEST_READ' | 'PORTICO_E_MANIFEST_PARSE'; readonly message: string };

/** A reusable read buffer: `read` returns a view of it, overwritten by the next read. */
export class FileReader {
  private buffer = Buffer.allocUnsafeSlow(0);

  /** Bytes of the read buffer (the largest file read so far, rounded up). */
  get capacity(): number {
    return this.buffer.length;
  }

  /**
   * Reads the whole file at `path` as it is at the time (a file growing while read is read to its
   * end), refusing one of more than `maxBytes` bytes (code PORTICO_E_MANIFEST_PARSE, as the
   * watcher's size check says it). Never throws: a file that cannot be opened or read is
   * PORTICO_E_MANIFEST_READ with the system's message.
   */
  read(path: string, maxBytes: number): FileRead {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (error) {
      return { ok: false, code: 'PORTICO_E_MANIFEST_READ', message: (error as Error).message };
    }
    try {
      // The size is a hint; the loop reads to the end, whatever the file does meanwhile.
      this.reserve(Math.min(fstatSync(fd).size, maxBytes) + 1, 0);
      let length = 0;
      for (;;) {
        if (length === this.buffer.length) {
          if (length > maxBytes) return { ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: `refused (limit: bytes): the file is more than ${maxBytes} bytes; the limit is ${maxBytes} bytes` };
          this.reserve(Math.min(length * 2, maxBytes + 1), length);
        }
        const got = readSync(fd, this.buffer, length, this.buffer.length - length, null);
        if (got === 0) break;
        length += got;
      }
      if (length > maxBytes) return { ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: `refused (limit: bytes): the file is more than ${maxBytes} bytes; the limit is ${maxBytes} bytes` };
      return { ok: true, bytes: this.buffer.subarray(0, length) };
    } catch (error) {
      return { ok: false, code: 'PORTICO_E_MANIFEST_READ', message: (error as Error).message };
    } finally {
      closeSync(fd);
    }
  }

  /** Grows the buffer to at least `bytes`, keeping its first `keep` bytes (those read so far). */
  private reserve(bytes: number, keep: number): void {
    if (bytes <= this.buffer.length) return;
    // Rounded up to 64 KiB: a file that grows by a few bytes an edit does not reallocate every time.
    const grown = Buffer.allocUnsafeSlow(Math.ceil(bytes / 65_536) * 65_536);
    this.buffer.copy(grown, 0, 0, keep);
    this.buffer = grown;
  }
}

/** Whether a file's content is only whitespace (as String.prototype.trim sees it), reading only as far as its first other character. */
export function isBlank(bytes: Uint8Array): boolean {
  let at = 0;
  // ASCII whitespace and a BOM (trim removes U+FEFF too); anything else non-ASCII is decided by trim.
  for (; at < bytes.length; at++) {
    const c = bytes[at]!;
    if (c === 0x20 || (c >= 0x09 && c <= 0x0d)) continue;
    if (c === 0xef && bytes[at + 1] === 0xbb && bytes[at + 2] === 0xbf) {
      at += 2;
      continue;
    }
    if (c < 0x80) return false;
    return Buffer.from(bytes.buffer, bytes.byteOffset + at, bytes.length - at).toString('utf8').trim() === '';
  }
  return true;
}
