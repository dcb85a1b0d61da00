import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GzipText } from './gzip-text.ts';

/** Writes `texts` one by one (each awaited, as encodeFull does) and gunzips the body. */
async function roundTrip(texts: readonly string[], scratchBytes?: number): Promise<string> {
  const zip = new GzipText(scratchBytes);
  for (const text of texts) await zip.write(text);
  return gunzipSync(await zip.end()).toString('utf8');
}

describe('GzipText', () => {
  it('gzips exactly the text written, however it is split and whatever the scratch size', async () => {
    // Any Unicode (4-byte characters fall across buffer ends), writes longer and shorter than a
    // buffer, down to buffers of 16 bytes: every byte comes from the text, none from an earlier fill.
    await fc.assert(
      fc.asyncProperty(fc.array(fc.string({ unit: 'binary', maxLength: 300 }), { maxLength: 40 }), fc.integer({ min: 16, max: 96 }), async (texts, scratch) => {
        expect(await roundTrip(texts, scratch)).toBe(texts.join(''));
      }),
      { numRuns: 150 },
    );
  });

  it('never sends bytes of an earlier fill: a long write, then short ones into the reused buffers', async () => {
    const long = 'A'.repeat(1000);
    const short = ['b', 'cc', '', 'd'.repeat(20), 'e'];
    expect(await roundTrip([long, ...short], 32)).toBe(long + short.join(''));
    // The same with the last buffer part-filled at the end: only its filled bytes go out.
    expect(await roundTrip(['x'.repeat(33), 'y'], 32)).toBe(`${'x'.repeat(33)}y`);
  });

  it('splits characters only at their boundaries (UTF-8 of 1 to 4 bytes at every place of a buffer end)', async () => {
    const text = 'a€😀é'.repeat(50);
    for (let scratch = 16; scratch < 24; scratch++) expect(await roundTrip([text], scratch)).toBe(text);
  });

  it('gives an empty body for no text, and refuses writes after end and a second end', async () => {
    const zip = new GzipText();
    expect(gunzipSync(await zip.end()).length).toBe(0);
    await expect(zip.write('late')).rejects.toThrow(/write after end/);
    await expect(zip.end()).rejects.toThrow(/ended twice/);
  });

  it('refuses scratch buffers too small to hold any character', () => {
    expect(() => new GzipText(8)).toThrow(RangeError);
    expect(() => new GzipText(16.5)).toThrow(RangeError);
  });

  it('makes no Buffer per write: 8 MB of text cost the scratch buffers and the gzip bytes', async () => {
    // A zlib stream given strings makes a Buffer of each (8 MB here). Collections can only lower
    // the count, so the bound holds whatever the GC does meanwhile.
    const piece = `${'{"host":"h.example.com","routes":[]}'.repeat(50)},`;
    const before = process.memoryUsage().arrayBuffers;
    const zip = new GzipText();
    let written = 0;
    while (written < 8 * 1024 * 1024) {
      await zip.write(piece);
      written += piece.length;
    }
    const body = await zip.end();
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(2 * 1024 * 1024);
    expect(gunzipSync(body).length).toBe(written);
  });
});
