/**
 * Redaction of snapshot exports: TLS private keys become a fingerprint, so an export can be
 * shared or attached to a bug report. Used by `portico snapshot` and the control API's exports;
 * only the data-plane sync ever sends real keys.
 */
import { createHash } from 'node:crypto';
import type { Snapshot } from './schema.ts';

/** Replaces private keys by `<redacted sha256:…>`. The version still covers the real key, so a redacted snapshot no longer verifies. */
export function redactSnapshot(snapshot: Snapshot): Snapshot {
  return {
    ...snapshot,
    certificates: snapshot.certificates.map((c) => ({ ...c, privateKeyPem: `<redacted sha256:${createHash('sha256').update(c.privateKeyPem).digest('hex')}>` })),
  };
}
