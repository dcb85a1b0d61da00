// Line texts of the bundle (routeLabels, endpoints): their block digest, and the compiler's
// segmented form, whose text and digest are the joined text's, whatever changes it is given.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LINE_BLOCK, LineText, lineBlocks, linesDigest } from './bundle-lines.ts';

const lines = (n: number, tag = 'l'): string[] => Array.from({ length: n }, (_, i) => `${tag}${i}-${'é'.repeat(i % 3)}`);
const sha = (text: string): Buffer => createHash('sha256').update(text).digest();

describe('linesDigest', () => {
  it.each([0, 1, LINE_BLOCK - 1, LINE_BLOCK, LINE_BLOCK + 1, 2 * LINE_BLOCK + 5])('cuts %i lines into blocks of LINE_BLOCK lines and hashes their digests', (n) => {
    const text = lines(n).join('\n');
    const blocks = lineBlocks(text);
    expect(blocks.length).toBe(Math.ceil(n / LINE_BLOCK));
    expect(blocks.join('\n')).toBe(text);
    for (const block of blocks.slice(0, -1)) expect(block.split('\n').length).toBe(LINE_BLOCK);
    // The wire form: SHA-256 over the blocks' SHA-256s, each block's lines joined by \n (UTF-8).
    expect(linesDigest(text)).toBe(createHash('sha256').update(Buffer.concat(blocks.map(sha))).digest('hex'));
  });

  it('tells apart texts that differ in one line or in where a line ends', () => {
    const text = lines(3000).join('\n');
    expect(linesDigest(text)).not.toBe(linesDigest(text.replace('l2000-', 'l2000+')));
    expect(linesDigest('a\nb')).not.toBe(linesDigest('a\n\nb'));
    expect(linesDigest('')).toBe(createHash('sha256').digest('hex'));
  });
});

describe('LineText', () => {
  /** Segments of 0..5 lines each (hosts without routes have none), as the labels of hosts. */
  function segmentsOf(seed: number, count: number): { segments: string[]; firsts: number[]; total: number } {
    const segments: string[] = [];
    const firsts: number[] = [];
    let total = 0;
    for (let s = 0; s < count; s++) {
      const n = (s * 7 + seed) % 6;
      firsts.push(total);
      segments.push(lines(n, `s${s}.`).join('\n'));
      total += n;
    }
    return { segments, firsts, total };
  }

  it('gives the joined text and its digest, for segments of several lines straddling blocks and empty ones', () => {
    const { segments, firsts, total } = segmentsOf(1, 1500);
    const text = LineText.of(segments, firsts, total);
    const joined = segments.filter((segment) => segment !== '').join('\n');
    expect(text.text()).toBe(joined);
    expect(text.digest).toBe(linesDigest(joined));
    const single = lines(2500);
    expect(LineText.of(single, undefined, single.length).digest).toBe(linesDigest(single.join('\n')));
  });

  it('after changes (lines of the same count) gives the digest of the changed text, and the old version keeps its own', () => {
    const { segments, firsts, total } = segmentsOf(2, 1200);
    const first = LineText.of(segments, firsts, total);
    const changed = segments.slice();
    const changes = new Map<number, string>();
    for (const s of [0, 1, 400, 401, 1199]) {
      const replaced = segments[s]!.split('\n').map((line) => (line === '' ? '' : `${line}*changed`)).join('\n');
      changes.set(s, replaced);
      changed[s] = replaced;
    }
    const next = first.with(changes);
    const joined = changed.filter((segment) => segment !== '').join('\n');
    expect(next.text()).toBe(joined);
    expect(next.digest).toBe(linesDigest(joined));
    expect(first.digest).toBe(linesDigest(segments.filter((segment) => segment !== '').join('\n')));
    expect(first.with(new Map())).toBe(first);
    // One line per segment (the endpoints): a replaced line moves only its block's digest.
    const single = lines(3 * LINE_BLOCK);
    const endpoints = LineText.of(single, undefined, single.length);
    const moved = endpoints.with(new Map([[LINE_BLOCK + 3, '10.0.0.9 8080']]));
    const after = single.slice();
    after[LINE_BLOCK + 3] = '10.0.0.9 8080';
    expect(moved.digest).toBe(linesDigest(after.join('\n')));
  });

  it('gives each line alone as the joined text has it, before and after changes, and nothing outside', () => {
    for (const seed of [1, 2, 5]) {
      const { segments, firsts, total } = segmentsOf(seed, 900);
      const first = LineText.of(segments, firsts, total);
      const next = first.with(new Map([[3, segments[3]!.replaceAll('s3.', 'S3.')], [899, segments[899]!.replaceAll('s', 'z')]]));
      for (const text of [first, next]) {
        const joined = text.text().split('\n');
        expect(joined.length, `seed ${seed}`).toBe(total);
        for (let line = 0; line < total; line++) expect(text.line(line), `seed ${seed} line ${line}`).toBe(joined[line]);
      }
      for (const outside of [-1, total, total + 5, 1.5, Number.NaN]) expect(first.line(outside), String(outside)).toBeUndefined();
    }
    const single = lines(LINE_BLOCK + 2);
    const endpoints = LineText.of(single, undefined, single.length);
    for (let line = 0; line < single.length; line++) expect(endpoints.line(line)).toBe(single[line]);
    expect(LineText.of([], undefined, 0).line(0)).toBeUndefined();
  });

  it('changedSince: the lines that differ from a version it descends from (a few hops back), else undefined', () => {
    const single = lines(3000, 'e');
    const first = LineText.of(single, undefined, single.length);
    const second = first.with(new Map([[7, 'x7'], [2500, 'x2500']]));
    const third = second.with(new Map([[7, 'y7'], [12, 'y12']]));
    expect(second.changedSince(first, 100)).toEqual([7, 2500]);
    expect(third.changedSince(second, 100)).toEqual([7, 12]);
    expect(third.changedSince(first, 100)).toEqual([7, 12, 2500]);
    expect(third.changedSince(third, 100)).toEqual([]);
    // The lines it names are the only ones whose text differs.
    for (let line = 0; line < single.length; line++) if (![7, 12, 2500].includes(line)) expect(third.line(line)).toBe(first.line(line));
    // Not a descendant (the other way round, or another text), or more lines than asked for: undefined.
    expect(first.changedSince(second, 100)).toBeUndefined();
    expect(third.changedSince(LineText.of(single, undefined, single.length), 100)).toBeUndefined();
    expect(third.changedSince(first, 2)).toBeUndefined();
    // Segments of several lines: every line of a replaced segment.
    const segmented = LineText.of(['a0\na1', 'b0', 'c0\nc1\nc2'], [0, 2, 3], 6);
    expect(segmented.with(new Map([[2, 'd0\nd1\nd2']])).changedSince(segmented, 100)).toEqual([3, 4, 5]);
    // Past LINEAGE_HOPS versions: unknown (the reader reads every line).
    let text = first;
    for (let hop = 0; hop < 9; hop++) text = text.with(new Map([[hop, `h${hop}`]]));
    expect(text.changedSince(first, 100)).toBeUndefined();
  });
});
