import { chunkFromBytes, chunkToBytes } from '@portico/assembly/encode';
import { describe, expect, it } from 'vitest';
import { BundleCompiler } from './bundle-compile.ts';
import { BUNDLE_DIGEST_SCHEME, BUNDLE_FORMAT, BUNDLE_MEDIA_TYPE, BundleShipper, acceptsBundleFormat, isBundleFormat, readShippedBundle } from './bundle-wire.ts';
import type { SnapshotHost } from './schema.ts';
import { host } from './test-support.ts';

/** A host of `paths` Prefix routes (a chunk of a few hundred bytes for one, tens of KiB for a thousand). */
const hostOf = (name: string, paths: number): SnapshotHost => {
  const one = host(name);
  return { ...one, routes: Array.from({ length: paths }, (_, i) => ({ ...one.routes[0]!, path: `/section-${i}/${'x'.repeat(i % 40)}` })) };
};

describe('BundleShipper.chunkText', () => {
  it('is the base64 of each host chunk alone, whatever chunk texts were made before (one buffer reused)', () => {
    const shipper = new BundleShipper();
    const reference = new BundleCompiler();
    // Large (past the reused buffer: an array of its own), small, middling, small again, large again.
    const hosts = [hostOf('big.test', 1000), hostOf('a.test', 1), hostOf('mid.test', 60), hostOf('b.test', 2), hostOf('big2.test', 1000)];
    const texts = hosts.map((h) => shipper.chunkText(h));
    expect(Buffer.from(texts[0]!, 'base64').length).toBeGreaterThan(16 * 1024);
    hosts.forEach((h, i) => {
      expect(texts[i]).toBe(Buffer.from(chunkToBytes(reference.chunkOf(h))).toString('base64'));
      expect(chunkFromBytes(new Uint8Array(Buffer.from(texts[i]!, 'base64')))).toEqual(chunkFromBytes(chunkToBytes(reference.chunkOf(h))));
    });
    // And as a data plane reads them.
    const received = readShippedBundle({ digest: `sha256:${'0'.repeat(64)}`, chunks: Object.fromEntries(hosts.map((h, i) => [h.host, texts[i]])) });
    expect(received.chunks.get('a.test')!.routeCount).toBe(1);
    expect(received.chunks.get('big2.test')!.routeCount).toBe(1000);
  });
});

describe('the bundle format in Accept and Content-Type (a rolling upgrade)', () => {
  const layout = /layout=(\d+)/.exec(BUNDLE_FORMAT)![1]!;
  const cases: [string, string | undefined, boolean][] = [
    ["this build's format", BUNDLE_FORMAT, true],
    ['its media type in capitals, parameters spaced and reordered', `Application/Vnd.Portico.Bundle+JSON;digest=${BUNDLE_DIGEST_SCHEME} ;  layout=${layout}`, true],
    ['the bare media type (a release before the format was named)', BUNDLE_MEDIA_TYPE, false],
    ['another table layout', `${BUNDLE_MEDIA_TYPE}; layout=${Number(layout) + 1}; digest=${BUNDLE_DIGEST_SCHEME}`, false],
    ['another digest scheme', `${BUNDLE_MEDIA_TYPE}; layout=${layout}; digest=1`, false],
    ['refused with q=0', `${BUNDLE_FORMAT}; q=0`, false],
    ['plain JSON', 'application/json', false],
    ['none', undefined, false],
  ];
  it.each(cases)('%s: %s -> %s', (_name, mediaType, expected) => {
    expect(isBundleFormat(mediaType)).toBe(expected);
    expect(acceptsBundleFormat(mediaType === undefined ? undefined : `text/plain, ${mediaType}, application/json;q=0.9`)).toBe(expected);
  });
});
