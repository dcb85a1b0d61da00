/**
 * The parser thread's file reader: whole files through one reused buffer, files past the limit
 * refused, unreadable ones a value naming why, and a file written while it is read read to its end.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileReader, isBlank } from './file-read.ts';

let dir: string;
beforeAll(async () => (dir = await mkdtemp(join(tmpdir(), 'portico-read-'))));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('FileReader', () => {
  it('reads files of any size whole, reusing its buffer for smaller ones', async () => {
    const reader = new FileReader();
    const big = Buffer.alloc(300_000, 'a');
    big.write('start', 0);
    big.write('end', big.length - 3);
    await writeFile(join(dir, 'big'), big);
    await writeFile(join(dir, 'small'), 'small file');
    const first = reader.read(join(dir, 'big'), 1_000_000);
    expect(first.ok && first.bytes.equals(big)).toBe(true);
    const capacity = reader.capacity;
    expect(capacity).toBeGreaterThan(big.length);
    const second = reader.read(join(dir, 'small'), 1_000_000);
    expect(second.ok && second.bytes.toString()).toBe('small file');
    // The same memory: no new buffer for a file that fits.
    expect(reader.capacity).toBe(capacity);
    expect(second.ok && first.ok && second.bytes.buffer).toBe(first.ok && first.bytes.buffer);
    await writeFile(join(dir, 'empty'), '');
    const empty = reader.read(join(dir, 'empty'), 1_000_000);
    expect(empty.ok && empty.bytes.length).toBe(0);
  });

  it('refuses a file past the limit, and one that cannot be opened, naming why', async () => {
    const reader = new FileReader();
    await writeFile(join(dir, 'over'), Buffer.alloc(70_001, 'x'));
    expect(reader.read(join(dir, 'over'), 70_000)).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringMatching(/refused \(limit: bytes\).*the limit is 70000 bytes/) });
    const exact = reader.read(join(dir, 'over'), 70_001);
    expect(exact.ok && exact.bytes.length).toBe(70_001);
    expect(reader.read(join(dir, 'missing'), 100)).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_READ', message: expect.stringContaining('ENOENT') });
    expect(reader.read(dir, 100)).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_READ', message: expect.stringContaining('EISDIR') });
  });

  it('reads to its end a file whose bytes keep coming after it was opened (the buffer grows, keeping what was read)', async () => {
    // A FIFO has size 0 when opened: every byte past the first 64 KiB arrives after the reader sized its buffer.
    const reader = new FileReader();
    const text = Buffer.alloc(200_000);
    for (let i = 0; i < text.length; i++) text[i] = 0x61 + (i % 26);
    await writeFile(join(dir, 'source'), text);
    execFileSync('mkfifo', [join(dir, 'fifo')]);
    const writer = spawn('sh', ['-c', `cat '${join(dir, 'source')}' > '${join(dir, 'fifo')}'`], { stdio: 'ignore' });
    const got = reader.read(join(dir, 'fifo'), 1_000_000);
    await new Promise((resolve) => writer.on('exit', resolve));
    expect(got.ok && got.bytes.equals(text)).toBe(true);
    expect(reader.capacity).toBeGreaterThanOrEqual(text.length);
  });

  it('refuses a stream that goes past the limit while read', async () => {
    const reader = new FileReader();
    execFileSync('mkfifo', [join(dir, 'fifo2')]);
    const writer = spawn('sh', ['-c', `head -c 150000 /dev/zero > '${join(dir, 'fifo2')}'`], { stdio: 'ignore' });
    const got = reader.read(join(dir, 'fifo2'), 100_000);
    writer.kill();
    await new Promise((resolve) => writer.on('exit', resolve));
    expect(got).toEqual({ ok: false, code: 'PORTICO_E_MANIFEST_PARSE', message: expect.stringMatching(/more than 100000 bytes/) });
  });
});

describe('isBlank', () => {
  it.each([
    ['empty', '', true],
    ['whitespace', ' \n\t\r\n', true],
    ['a BOM and newlines', '\uFEFF\n\n', true],
    ['a document', '\n apiVersion: v1', false],
    ['non-breaking space (trim removes it)', '\u00A0\n', true],
    ['non-ASCII text', '\n\u00E9', false],
  ])('%s', (_name, text, blank) => expect(isBlank(Buffer.from(text))).toBe(blank));
});
