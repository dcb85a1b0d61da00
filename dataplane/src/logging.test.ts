import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Logger } from './logging.ts';
import { JsonLineLogger, makeLoggers } from './logging.ts';

/** Runs `log` against our logger (stdout captured) and against pino with the same level and bindings; returns both outputs' lines. */
function both(level: string, bindings: Record<string, string>, log: (logger: Logger) => void): { ours: string[]; pinos: string[] } {
  const ours: string[] = [];
  const write = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    ours.push(String(chunk));
    return true;
  });
  try {
    log(new JsonLineLogger(level, bindings));
  } finally {
    write.mockRestore();
  }
  const pinos: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      pinos.push(chunk.toString());
      done();
    },
  });
  log(pino({ level, base: bindings }, sink));
  return { ours, pinos };
}

describe('the data plane\'s JSON-lines logger', () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(1_796_000_000_000);
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const cases: { name: string; level: string; log: (logger: Logger) => void }[] = [
    { name: 'fields then a message', level: 'info', log: (l) => l.info({ version: 'sha256:ab', removedEndpoints: 0, endpointOnly: false }, 'snapshot loaded') },
    { name: 'a message alone', level: 'info', log: (l) => l.warn('the worker bundle is older than its sources') },
    { name: 'fields without a message (the access log)', level: 'info', log: (l) => l.info({ method: 'GET', host: 'a.example', path: '/x?y="z"', status: 200, duration_ms: 1.25, request_id: 'r1' }) },
    { name: 'undefined fields are left out, nested values kept', level: 'info', log: (l) => l.error({ worker: 2, from: undefined, ports: { http: 80 }, list: [1, 'two'] }, 'rolled back') },
    { name: 'levels below the threshold write nothing', level: 'warn', log: (l) => (l.debug({ a: 1 }, 'no'), l.info('no'), l.warn({ b: 2 }, 'yes'), l.error('yes')) },
    { name: 'debug when asked for', level: 'debug', log: (l) => l.debug({ reason: 'x' }, 'HTTP/2 request refused') },
    { name: 'silent writes nothing', level: 'silent', log: (l) => l.error('never') },
    { name: 'unicode and control characters in values', level: 'info', log: (l) => l.info({ host: 'ü\u0001"\\' }, 'line\nbreak') },
  ];
  for (const { name, level, log } of cases) {
    it(`writes what pino writes: ${name}`, () => {
      const { ours, pinos } = both(level, { component: 'dataplane' }, log);
      expect(ours).toEqual(pinos);
      for (const line of ours) expect(line.endsWith('\n') && !line.slice(0, -1).includes('\n')).toBe(true);
    });
  }

  it('writes an `err` field as pino\'s error serializer does (type, message, stack, own fields such as code)', () => {
    const error = Object.assign(new TypeError('handshake failed'), { code: 'ERR_SSL_X' });
    const { ours, pinos } = both('debug', { component: 'dataplane' }, (l) => l.debug({ err: error }, 'TLS handshake failed'));
    expect(ours.map((line) => JSON.parse(line) as unknown)).toEqual(pinos.map((line) => JSON.parse(line) as unknown));
    expect(JSON.parse(ours[0]!)).toMatchObject({ err: { type: 'TypeError', message: 'handshake failed', code: 'ERR_SSL_X' }, msg: 'TLS handshake failed' });
  });

  it('answers isLevelEnabled as pino does', () => {
    const ours = new JsonLineLogger('info', {});
    const theirs = pino({ level: 'info' });
    for (const level of ['trace', 'debug', 'info', 'warn', 'error', 'fatal']) expect(ours.isLevelEnabled(level), level).toBe(theirs.isLevelEnabled(level));
  });

  it('never throws on a value JSON cannot write (a cycle, a BigInt): the line says so', () => {
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    const { ours } = both('info', {}, (l) => l.info({ cycle, big: 10n }, 'odd fields'));
    const line = JSON.parse(ours[0]!) as Record<string, unknown>;
    expect(line.cycle).toMatch(/^\[unserializable: /);
    expect(line.big).toBe('10');
    expect(line.msg).toBe('odd fields');
  });

  it('refuses a level pino does not know, naming it', () => {
    expect(() => makeLoggers('verbose', false)).toThrow(/unknown log level "verbose"/);
  });

  it('the access logger is there only when asked for, and logs at info whatever the process level', () => {
    expect(makeLoggers('error', false).accessLog).toBeUndefined();
    expect(makeLoggers('error', true).accessLog?.isLevelEnabled('info')).toBe(true);
  });
});
