import { describe, expect, it } from 'vitest';
import { ClusterState } from '../state/cluster-state.ts';
import type { Condition } from '../model/conditions.ts';
import type { PendingEvent } from './events.ts';
import { ConditionEvents, ConditionOrigins, EVENT_MEMORY, EVENT_QUEUE, EventRecorder, conditionEvent } from './events.ts';
import { STANDALONE_SELECTION } from '../api/test-support.ts';
import { SnapshotHistory } from '../publish/history.ts';
import { SnapshotPublisher } from '../publish/publisher.ts';
import type { KubeObject } from '../state/objects.ts';

const event = (key: string): PendingEvent => ({ namespace: 'team', event: { reason: key }, dedupeKey: key });

describe('EventRecorder', () => {
  it('posts each key once while it is remembered', async () => {
    const posted: string[] = [];
    const recorder = new EventRecorder({ post: async (e) => void posted.push(e.dedupeKey) });
    recorder.record([event('a'), event('b'), event('a')]);
    await recorder.idle();
    recorder.record([event('a'), event('b')]);
    await recorder.idle();
    expect(posted).toEqual(['a', 'b']);
    expect(recorder.stats).toMatchObject({ posted: 2, duplicates: 3 });
  });

  it(`a flood of distinct Events keeps memory at the cap (${EVENT_MEMORY} keys) and the queue at its bound (${EVENT_QUEUE})`, async () => {
    let posts = 0;
    let release: () => void = () => undefined;
    let gate = new Promise<void>((resolve) => (release = resolve));
    const recorder = new EventRecorder({
      post: async () => {
        await gate;
        posts++;
      },
    });
    let maxQueued = 0;
    let maxRemembered = 0;
    // 50 passes of 1,000 new conditions each, posts completing between passes.
    for (let pass = 0; pass < 50; pass++) {
      recorder.record(Array.from({ length: 1000 }, (_, i) => event(`ingress-${pass}-${i}`)));
      maxQueued = Math.max(maxQueued, recorder.queued);
      maxRemembered = Math.max(maxRemembered, recorder.remembered);
      release();
      await recorder.idle();
      gate = new Promise<void>((resolve) => (release = resolve));
    }
    release();
    expect(maxQueued).toBeLessThanOrEqual(EVENT_QUEUE);
    expect(maxRemembered).toBe(EVENT_MEMORY);
    expect(maxRemembered).toBeLessThanOrEqual(EVENT_MEMORY);
    expect(recorder.remembered).toBeLessThanOrEqual(EVENT_MEMORY);
    // What did not fit was deferred, not remembered: a later pass posts it.
    expect(recorder.stats.deferred).toBe(50 * (1000 - EVENT_QUEUE));
    expect(posts).toBe(50 * EVENT_QUEUE);
  });

  it('remembers the most recently seen keys: a condition seen every pass is never posted twice under churn', async () => {
    const posted: string[] = [];
    const recorder = new EventRecorder({ post: async (e) => void posted.push(e.dedupeKey), memory: 10, maxQueued: 100 });
    for (let pass = 0; pass < 20; pass++) {
      recorder.record([event('persistent'), ...Array.from({ length: 5 }, (_, i) => event(`churn-${pass}-${i}`))]);
      await recorder.idle();
      expect(recorder.remembered).toBeLessThanOrEqual(10);
    }
    expect(posted.filter((k) => k === 'persistent')).toHaveLength(1);
    expect(recorder.stats.forgotten).toBeGreaterThan(0);
  });

  it('forgets an Event whose post failed, so the next pass posts it again', async () => {
    let fail = true;
    const posted: string[] = [];
    const failures: string[] = [];
    const recorder = new EventRecorder({
      post: async (e) => {
        if (fail) throw new Error('API down');
        posted.push(e.dedupeKey);
      },
      onError: (e) => failures.push(e.dedupeKey),
    });
    recorder.record([event('a')]);
    await recorder.idle();
    fail = false;
    recorder.record([event('a')]);
    await recorder.idle();
    expect(failures).toEqual(['a']);
    expect(posted).toEqual(['a']);
  });

  it('lists the Events whose post failed once each, and says when more failed than its queue bound holds', async () => {
    const recorder = new EventRecorder({ post: async () => Promise.reject(new Error('API down')), maxQueued: 2 });
    recorder.record([event('a'), event('b')]);
    await recorder.idle();
    expect(recorder.takeFailed()?.map((e) => e.dedupeKey)).toEqual(['a', 'b']);
    expect(recorder.takeFailed()).toEqual([]);
    recorder.record([event('c'), event('d')]);
    await recorder.idle();
    recorder.record([event('e')]);
    await recorder.idle();
    expect(recorder.takeFailed()).toBeUndefined();
    expect(recorder.takeFailed()).toEqual([]);
  });

  it('clear drops what is queued (forgotten, so a later pass posts it) and lets the post in flight finish', async () => {
    const posted: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const recorder = new EventRecorder({
      concurrency: 1,
      post: async (e) => {
        await gate;
        posted.push(e.dedupeKey);
      },
    });
    recorder.record([event('a'), event('b'), event('c')]);
    recorder.clear();
    expect(recorder.queued).toBe(0);
    release();
    await recorder.idle();
    expect(posted).toEqual(['a']);
    recorder.record([event('a'), event('b'), event('c')]);
    await recorder.idle();
    expect(posted).toEqual(['a', 'b', 'c']);
  });

  it('a post that throws before returning a promise fails like a rejected one: its slot is freed and the next Event is posted', async () => {
    const posted: string[] = [];
    const failed: string[] = [];
    const recorder = new EventRecorder({
      concurrency: 1,
      post: (pending) => {
        if (pending.dedupeKey === 'a') throw new Error('synchronous');
        posted.push(pending.dedupeKey);
        return Promise.resolve();
      },
      onError: (pending) => failed.push(pending.dedupeKey),
    });
    recorder.record([event('a'), event('b')]);
    await recorder.idle();
    expect(posted).toEqual(['b']);
    expect(failed).toEqual(['a']);
    expect(recorder.stats).toMatchObject({ posted: 1, failed: 1 });
    // Forgotten like any failed post: a later pass posts it.
    expect(recorder.takeFailed()).toEqual([event('a')]);
  });

  it('keeps at most `concurrency` posts in flight', async () => {
    let active = 0;
    let peak = 0;
    const recorder = new EventRecorder({
      concurrency: 3,
      post: async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((resolve) => setTimeout(resolve, 1));
        active--;
      },
    });
    recorder.record(Array.from({ length: 40 }, (_, i) => event(`e${i}`)));
    await recorder.idle();
    expect(peak).toBe(3);
    expect(recorder.stats.posted).toBe(40);
  });
});

describe('conditionEvent', () => {
  const condition: Condition = {
    source: { kind: 'Ingress', namespace: 'team', name: 'web' },
    field: 'spec.rules[0].http.paths[0].backend.service.name',
    reason: 'ServiceNotFound',
    message: 'no Service team/nope',
    severity: 'Error',
  } as Condition;
  const ingress = (resourceVersion: string, generation: number) => ({
    apiVersion: 'networking.k8s.io/v1' as const,
    kind: 'Ingress' as const,
    metadata: { name: 'web', namespace: 'team', uid: 'u-1', resourceVersion, generation },
    spec: { rules: [] },
  });

  it('keys the Event by generation: a status write (new resourceVersion, same generation) does not repeat it', () => {
    const state = new ClusterState();
    state.upsert(ingress('10', 1));
    const first = conditionEvent(condition, state, 'portico-controller', 'replica-a', new Date(0))!;
    state.upsert(ingress('11', 1));
    const afterStatus = conditionEvent(condition, state, 'portico-controller', 'replica-a', new Date(0))!;
    state.upsert(ingress('12', 2));
    const afterSpec = conditionEvent(condition, state, 'portico-controller', 'replica-a', new Date(0))!;
    expect(afterStatus.dedupeKey).toBe(first.dedupeKey);
    expect(afterSpec.dedupeKey).not.toBe(first.dedupeKey);
    expect(first.event).toMatchObject({ type: 'Warning', reason: 'ServiceNotFound', involvedObject: { name: 'web', uid: 'u-1' } });
    // What a failed post's log line names: the object, the field and the reason.
    expect(first.about).toBe('Ingress team/web spec.rules[0].http.paths[0].backend.service.name: ServiceNotFound');
  });

  it('posts the whole body, made when the recorder posts it (once, whatever the reads)', async () => {
    const state = new ClusterState();
    state.upsert(ingress('10', 3));
    const pending = conditionEvent(condition, state, 'portico-controller', 'replica-a', new Date(Date.UTC(2026, 11, 2, 9, 30, 15, 250)))!;
    const posted: unknown[] = [];
    const recorder = new EventRecorder({ post: async (e) => void posted.push(e.event) });
    recorder.record([pending, pending]);
    await recorder.idle();
    expect(posted).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: 'web.', namespace: 'team' },
        involvedObject: { apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', namespace: 'team', name: 'web', uid: 'u-1', resourceVersion: '10' },
        reason: 'ServiceNotFound',
        message: 'spec.rules[0].http.paths[0].backend.service.name: no Service team/nope',
        type: 'Warning',
        source: { component: 'portico-controller' },
        reportingComponent: 'portico-controller',
        reportingInstance: 'replica-a',
        firstTimestamp: '2026-12-02T09:30:15Z',
        lastTimestamp: '2026-12-02T09:30:15Z',
        count: 1,
      },
    ]);
    expect(pending.event).toBe(posted[0]);
  });

  it('names the object version the condition was derived from, not the one the state holds by the status pass (ConditionOrigins)', () => {
    const state = new ClusterState();
    const publisher = new SnapshotPublisher({ state, selection: STANDALONE_SELECTION, history: new SnapshotHistory() });
    const origins = new ConditionOrigins();
    const broken = (resourceVersion: string, generation: number, service: string, uid = 'u-1') =>
      ({
        apiVersion: 'networking.k8s.io/v1',
        kind: 'Ingress',
        metadata: { name: 'web', namespace: 'team', uid, resourceVersion, generation },
        spec: { rules: [{ host: 'web.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: service, port: { number: 80 } } } }] } }] },
      }) as KubeObject;
    const rebuild = () => {
      publisher.rebuild();
      origins.note(publisher.conditions, state);
      return publisher.conditions.filter((c) => c.reason === 'ServiceNotFound');
    };
    state.upsert(broken('10', 1, 'nope'));
    const [derived] = rebuild();
    // Edited (generation 2: another Service, also missing) after the build, before the status pass offers generation 1's condition.
    state.upsert(broken('11', 2, 'other'));
    const pending = conditionEvent(derived!, state, 'portico-controller', 'replica-a', new Date(0), origins.of(derived!))!;
    expect(pending.dedupeKey).toBe(`u-1/1/${derived!.field}/ServiceNotFound`);
    expect(pending.event).toMatchObject({ involvedObject: { uid: 'u-1', resourceVersion: '10' }, message: expect.stringContaining('nope') });
    // The rebuild's condition is generation 2's, noted as such.
    const [next] = rebuild();
    expect(next).not.toBe(derived);
    expect(conditionEvent(next!, state, 'portico-controller', 'replica-a', new Date(0), origins.of(next!))!.dedupeKey).toBe(`u-1/2/${next!.field}/ServiceNotFound`);
    // Deleted and made again (a new uid) since: generation 2's condition is about an object that is gone.
    state.upsert(broken('12', 1, 'other', 'u-2'));
    expect(conditionEvent(next!, state, 'portico-controller', 'replica-a', new Date(0), origins.of(next!))).toBeUndefined();
  });

  it('is undefined for an object Portico does not hold', () => {
    expect(conditionEvent(condition, new ClusterState(), 'c', 'i', new Date(0))).toBeUndefined();
  });
});

describe('ConditionEvents', () => {
  /** Ingress `web-i` of namespace team (generation 1) and a condition about it; made afresh each call, as a new derivation makes them. */
  const ingressOf = (i: number) => ({ apiVersion: 'networking.k8s.io/v1' as const, kind: 'Ingress' as const, metadata: { name: `web-${i}`, namespace: 'team', uid: `u-${i}`, resourceVersion: '1', generation: 1 }, spec: { rules: [] } });
  const conditionOf = (i: number, reason = 'ServiceNotFound'): Condition => ({ source: { kind: 'Ingress', namespace: 'team', name: `web-${i}` }, field: 'spec.rules[0].http.paths[0].backend.service.name', reason, message: 'no Service', severity: 'Error' }) as Condition;
  /** A state of `n` Ingresses, conditions about each, a recorder posting into `posted`, and the offers; `looked` counts Events made. */
  function setup(n: number, recorder: Partial<ConstructorParameters<typeof EventRecorder>[0]> = {}) {
    const state = ClusterState.from(Array.from({ length: n }, (_, i) => ingressOf(i)));
    const posted: string[] = [];
    const events = new EventRecorder({ post: async (e) => void posted.push(e.dedupeKey), ...recorder });
    const offers = new ConditionEvents(events);
    let looked = 0;
    const offer = (conditions: readonly Condition[]) =>
      offers.offer(conditions, (condition) => {
        looked++;
        return conditionEvent(condition, state, 'portico-controller', 'replica-a', new Date(0));
      });
    return { state, posted, events, offers, offer, looked: () => looked, conditions: Array.from({ length: n }, (_, i) => conditionOf(i)) };
  }

  it('a pass looks only at the conditions that changed since the last (hostile: 10,000 conditions, one edit), and posts what is new', async () => {
    const { posted, events, offer, looked, conditions } = setup(10_000, { maxQueued: 20_000, memory: 20_000 });
    expect(offer(conditions)).toBe(10_000);
    await events.idle();
    expect(posted).toHaveLength(10_000);
    // The same list again (nothing changed): nothing to look at.
    expect(offer(conditions)).toBe(0);
    // One Ingress re-derived with another reason: the pass looks at that one condition, and its Event is posted.
    const edited = [...conditions];
    edited[4321] = conditionOf(4321, 'PortNotFound');
    expect(offer(edited)).toBe(1);
    // One condition gone: nothing to look at. One re-derived unchanged (a new object, the same Event): looked at, not posted again.
    const fewer = [...edited.slice(0, 100), ...edited.slice(101)];
    expect(offer(fewer)).toBe(0);
    const again = [...fewer];
    again[5000] = conditionOf(Number(fewer[5000]!.source.name.slice('web-'.length)));
    expect(offer(again)).toBe(1);
    await events.idle();
    expect(looked()).toBe(10_002);
    expect(posted.slice(10_000)).toEqual([`u-4321/1/spec.rules[0].http.paths[0].backend.service.name/PortNotFound`]);
  });

  it('offers the whole list again after a pass the recorder could not take whole, until every Event is posted', async () => {
    const { posted, events, offer, conditions } = setup(50, { maxQueued: 20 });
    const looked: number[] = [];
    for (let pass = 0; pass < 4; pass++) {
      looked.push(offer(conditions));
      await events.idle();
    }
    expect(looked).toEqual([50, 50, 50, 0]);
    expect(new Set(posted).size).toBe(50);
    expect(posted).toHaveLength(50);
  });

  it('posts each Event once when the cluster has more conditions than the recorder remembers (hostile: no re-posting every pass)', async () => {
    const { posted, events, offer, conditions } = setup(500, { memory: 100, maxQueued: 30 });
    for (let pass = 0; pass < 40; pass++) {
      offer(conditions);
      await events.idle();
    }
    expect(posted).toHaveLength(500);
    expect(new Set(posted).size).toBe(500);
    expect(offer(conditions)).toBe(0);
  });

  it('a failed post does not make the Events the recorder no longer remembers posted again (hostile: more conditions than memory)', async () => {
    let failing = 'none';
    const { posted, events, offer, conditions } = setup(500, {
      memory: 100,
      maxQueued: 600,
      post: async (e) => {
        if (e.dedupeKey.startsWith(failing)) throw new Error('API down');
        posted.push(e.dedupeKey);
      },
    });
    offer(conditions);
    await events.idle();
    expect(posted).toHaveLength(500);
    // One Ingress re-derived with a new reason whose post fails, then passes while the API answers again.
    failing = 'u-7/';
    const edited = [...conditions];
    edited[7] = conditionOf(7, 'PortNotFound');
    offer(edited);
    await events.idle();
    failing = 'none';
    for (let pass = 0; pass < 3; pass++) {
      offer(edited);
      await events.idle();
    }
    // The failed Event posted once more, and no other: the 400 Events past the memory bound are not posted again.
    expect(posted.slice(500)).toEqual(['u-7/1/spec.rules[0].http.paths[0].backend.service.name/PortNotFound']);
    expect(offer(edited)).toBe(0);
  });

  it('offers the whole list again after a post failed (the recorder forgot it), and after reset', async () => {
    let fail = true;
    const { posted, events, offers, offer, conditions } = setup(30, {
      post: async (e) => {
        if (fail && e.dedupeKey.startsWith('u-7/')) throw new Error('API down');
        posted.push(e.dedupeKey);
      },
    });
    expect(offer(conditions)).toBe(30);
    await events.idle();
    expect(posted).toHaveLength(29);
    fail = false;
    expect(offer(conditions)).toBe(30);
    await events.idle();
    expect(posted).toHaveLength(30);
    expect(offer(conditions)).toBe(0);
    offers.reset();
    expect(offer(conditions)).toBe(30);
    await events.idle();
    expect(posted).toHaveLength(30);
  });
});
