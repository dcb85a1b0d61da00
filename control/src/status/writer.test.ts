import { describe, expect, it } from 'vitest';
import type { StatusUpdate } from './ingress-status.ts';
import { StatusWriter, retryableStatusError } from './writer.ts';

const A = [{ ip: '10.1.33.159' }];
const B = [{ ip: '10.1.33.160' }];

function update(name: string, points = A, observed = '1'): StatusUpdate {
  return { namespace: 'team', name, points, observed };
}

/** A fake API: every write waits until the test releases it (or fails it), and is recorded. */
function fakeApi() {
  const calls: { update: StatusUpdate; release: () => void; fail: (error: unknown) => void }[] = [];
  const landed = new Map<string, StatusUpdate>();
  let inFlight = 0;
  let maxInFlight = 0;
  const write = (u: StatusUpdate) =>
    new Promise<void>((resolve, reject) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      calls.push({
        update: u,
        release: () => {
          inFlight--;
          landed.set(u.name, u);
          resolve();
        },
        fail: (error) => {
          inFlight--;
          reject(error);
        },
      });
    });
  const next = async () => {
    // Writes start synchronously in plan(); settle callbacks need a few microtask turns.
    for (let i = 0; i < 10 && calls.length === 0; i++) await Promise.resolve();
    const call = calls.shift();
    if (call === undefined) throw new Error('no write in flight');
    return call;
  };
  return { calls, landed, write, next, maxInFlight: () => maxInFlight };
}

const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('StatusWriter', () => {
  it('writes an update that is planned while a pass is in flight (never lost)', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write, concurrency: 1 });
    writer.plan([update('first')]);
    const first = await api.next();
    expect(first.update.name).toBe('first');
    // Mid-pass: a new Ingress appears; the plan that comes with it still lists `first` (the informer has not caught up).
    writer.plan([update('first'), update('late')]);
    first.release();
    (await api.next()).release();
    await writer.idle();
    expect([...api.landed.keys()].sort()).toEqual(['first', 'late']);
    expect(writer.stats).toMatchObject({ written: 2, skipped: 1 });
  });

  it('writes the newer update after the one in flight for the same Ingress: the last one wins', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write });
    writer.plan([update('web', A)]);
    const first = await api.next();
    writer.plan([update('web', B)]);
    await settle();
    // One write per Ingress at a time.
    expect(api.calls).toHaveLength(0);
    first.release();
    const second = await api.next();
    expect(second.update.points).toEqual(B);
    second.release();
    await writer.idle();
    expect(api.landed.get('web')?.points).toEqual(B);
  });

  it('coalesces repeated updates for the same Ingress into one write', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write, concurrency: 1 });
    writer.plan([update('busy'), update('web', A)]);
    const busy = await api.next();
    // Three plans while `web` waits: only the last is written.
    writer.plan([update('busy'), update('web', B)]);
    writer.plan([update('busy'), update('web', A, '2')]);
    writer.plan([update('busy'), update('web', B, '3')]);
    busy.release();
    const web = await api.next();
    expect(web.update).toEqual(update('web', B, '3'));
    web.release();
    await writer.idle();
    expect(api.calls).toHaveLength(0);
    expect(writer.stats).toMatchObject({ written: 2, coalesced: 3 });
  });

  it('drops a pending update that a newer plan no longer wants', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write, concurrency: 1 });
    writer.plan([update('a'), update('b')]);
    const a = await api.next();
    writer.plan([update('a')]);
    a.release();
    await writer.idle();
    expect([...api.landed.keys()]).toEqual(['a']);
  });

  it('does not write again what it wrote from the same observed object; writes again once the object moved', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write });
    writer.plan([update('web', A, '7')]);
    (await api.next()).release();
    await writer.idle();
    writer.plan([update('web', A, '7')]);
    await settle();
    expect(api.calls).toHaveLength(0);
    // Someone else overwrote the status (resourceVersion 9): Portico's address goes back.
    writer.plan([update('web', A, '9')]);
    (await api.next()).release();
    await writer.idle();
    expect(writer.stats.written).toBe(2);
  });

  it('keeps at most `concurrency` writes in flight and writes every update of a large plan once', async () => {
    let inFlight = 0;
    let peak = 0;
    const written: string[] = [];
    const writer = new StatusWriter({
      concurrency: 8,
      write: async (u) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 1));
        inFlight--;
        written.push(u.name);
      },
    });
    writer.plan(Array.from({ length: 500 }, (_, i) => update(`ing-${i}`)));
    await writer.idle();
    expect(peak).toBe(8);
    expect(written).toHaveLength(500);
    expect(new Set(written).size).toBe(500);
  });

  it('retries a transient failure after a back-off; drops 404 (gone); reports a permanent failure without retrying', async () => {
    const api = fakeApi();
    const errors: { name: string; willRetry: boolean }[] = [];
    // A back-off far longer than settle() takes on a loaded machine, so "not yet retried" holds.
    const writer = new StatusWriter({ write: api.write, backoffInitialMs: 400, random: () => 0, onError: (u, _e, willRetry) => errors.push({ name: u.name, willRetry }) });
    writer.plan([update('flaky'), update('gone'), update('invalid')]);
    (await api.next()).fail(Object.assign(new Error('HTTP 503'), { statusCode: 503 }));
    (await api.next()).fail(Object.assign(new Error('HTTP 404'), { statusCode: 404 }));
    (await api.next()).fail(Object.assign(new Error('HTTP 422'), { statusCode: 422 }));
    await settle();
    expect(api.calls).toHaveLength(0);
    expect(writer.pendingCount).toBe(1);
    const retry = await new Promise<(typeof api.calls)[number]>((resolve) => {
      const poll = setInterval(() => {
        const call = api.calls.shift();
        if (call !== undefined) {
          clearInterval(poll);
          resolve(call);
        }
      }, 2);
    });
    expect(retry.update.name).toBe('flaky');
    retry.release();
    await writer.idle();
    expect([...api.landed.keys()]).toEqual(['flaky']);
    expect(errors).toEqual([
      { name: 'flaky', willRetry: true },
      { name: 'invalid', willRetry: false },
    ]);
    expect(writer.stats).toMatchObject({ written: 1, retries: 1, gone: 1, failed: 1 });
  });

  it('remembers no more than the Ingresses of the latest plan', async () => {
    const writer = new StatusWriter({ write: async () => undefined });
    writer.plan(Array.from({ length: 1000 }, (_, i) => update(`ing-${i}`)));
    await writer.idle();
    expect(writer.retained).toEqual({ pending: 0, inflight: 0, written: 1000 });
    // The informer caught up: nothing differs any more.
    writer.plan([]);
    expect(writer.retained).toEqual({ pending: 0, inflight: 0, written: 0 });
  });

  it('clear() (leadership lost) drops pending work; the write in flight finishes; a later plan starts afresh', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write, concurrency: 1 });
    writer.plan([update('a'), update('b')]);
    const a = await api.next();
    writer.clear();
    expect(writer.pendingCount).toBe(0);
    a.release();
    await writer.idle();
    expect([...api.landed.keys()]).toEqual(['a']);
    // Leader again: `b` was dropped, so it is written now; `a` did land from the same observed object, so it is not repeated.
    writer.plan([update('a'), update('b')]);
    const b = await api.next();
    expect(b.update.name).toBe('b');
    b.release();
    await writer.idle();
    expect(api.calls).toHaveLength(0);
    expect(writer.stats.written).toBe(2);
  });

  it('close() drops pending work and waits for the writes in flight', async () => {
    const api = fakeApi();
    const writer = new StatusWriter({ write: api.write, concurrency: 1 });
    writer.plan([update('a'), update('b')]);
    const a = await api.next();
    let closed = false;
    const closing = writer.close().then(() => (closed = true));
    await settle();
    expect(closed).toBe(false);
    a.release();
    await closing;
    writer.plan([update('c')]);
    await settle();
    expect(api.calls).toHaveLength(0);
    expect([...api.landed.keys()]).toEqual(['a']);
  });

  it.each([
    ['network error', new Error('ECONNRESET'), true],
    ['409', { statusCode: 409 }, true],
    ['429', { statusCode: 429 }, true],
    ['500', { statusCode: 500 }, true],
    ['403', { statusCode: 403 }, false],
    ['422', { statusCode: 422 }, false],
  ])('retryableStatusError: %s', (_name, error, expected) => {
    expect(retryableStatusError(error)).toBe(expected);
  });
});
