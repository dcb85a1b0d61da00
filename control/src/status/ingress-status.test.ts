// The status planner kept between passes plans what a pass over every Ingress plans (or fails as it
// fails), after any sequence of edits, status echoes, removals, IngressClass changes and address
// changes; and a pass after one edit looks at that Ingress alone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CLASS_SELECTION, PORTICO_CONTROLLER } from '../build/ingress-class.ts';
import type { ClassSelection } from '../build/ingress-class.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { Ingress, IngressClass, KubeObject } from '../state/objects.ts';
import type { IngressPoint } from './addresses.ts';
import { IngressStatusPlanner, planStatusUpdates } from './ingress-status.ts';

const A: IngressPoint[] = [{ ip: '192.0.2.1' }];
const B: IngressPoint[] = [{ ip: '192.0.2.2' }, { hostname: 'edge.example' }];
const B_REORDERED: IngressPoint[] = [{ hostname: 'edge.example' }, { ip: '192.0.2.2' }];
const POINTS = [A, B, B_REORDERED, []] as const;

/** Statuses an Ingress may show: none, Portico's addresses, another controller's, and shapes no API server would let through. */
const STATUSES: readonly unknown[] = [undefined, { loadBalancer: { ingress: A } }, { loadBalancer: { ingress: B_REORDERED } }, { loadBalancer: { ingress: [{ ip: '198.51.100.9' }] } }, { loadBalancer: {} }, { loadBalancer: { ingress: [] } }, { loadBalancer: { ingress: [{ ip: 7 }, {}] } }, { loadBalancer: { ingress: 'not a list' } }];
const CLASSES = [undefined, 'portico', 'other', 'ic-mine', 'ic-theirs'] as const;

function ingress(n: number, className: (typeof CLASSES)[number], status: unknown, path: string, version: number): Ingress {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: { name: `web-${n}`, namespace: n % 2 === 0 ? 'shop' : 'blog', resourceVersion: String(version) },
    spec: { ...(className === undefined ? {} : { ingressClassName: className }), rules: [{ host: `h${n}.test`, http: { paths: [{ path, pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    ...(status === undefined ? {} : { status }),
  } as unknown as Ingress;
}

function ingressClass(name: string, mine: boolean, isDefault: boolean): IngressClass {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'IngressClass', metadata: { name, ...(isDefault ? { annotations: { 'ingressclass.kubernetes.io/is-default-class': 'true' } } : {}) }, spec: { controller: mine ? PORTICO_CONTROLLER : 'example.com/other' } } as unknown as IngressClass;
}

type Step =
  | { readonly op: 'ingress'; readonly n: number; readonly className: number; readonly status: number; readonly path: number }
  | { readonly op: 'status'; readonly n: number; readonly status: number }
  | { readonly op: 'remove'; readonly n: number }
  | { readonly op: 'class'; readonly name: 'ic-mine' | 'ic-theirs'; readonly mine: boolean; readonly isDefault: boolean; readonly present: boolean }
  | { readonly op: 'plan'; readonly points: number; readonly previous: readonly number[]; readonly fresh: boolean }
  | { readonly op: 'reset' };

const stepArb: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ op: fc.constant('ingress' as const), n: fc.nat(5), className: fc.nat(CLASSES.length - 1), status: fc.nat(STATUSES.length - 1), path: fc.nat(2) }),
  fc.record({ op: fc.constant('status' as const), n: fc.nat(5), status: fc.nat(STATUSES.length - 1) }),
  fc.record({ op: fc.constant('remove' as const), n: fc.nat(5) }),
  fc.record({ op: fc.constant('class' as const), name: fc.constantFrom('ic-mine' as const, 'ic-theirs' as const), mine: fc.boolean(), isDefault: fc.boolean(), present: fc.boolean() }),
  // Mostly the addresses of the pass before (the passes that look at changes alone), sometimes new ones.
  fc.record({ op: fc.constant('plan' as const), points: fc.nat(POINTS.length - 1), previous: fc.array(fc.nat(POINTS.length - 1), { maxLength: 3 }), fresh: fc.nat(3).map((k) => k === 0) }),
  fc.constant({ op: 'reset' as const }),
);

/** What a plan gives: the updates, or the failure's message. */
function outcome(plan: () => unknown): unknown {
  try {
    return { plan: plan() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}

describe('IngressStatusPlanner', () => {
  it('plans what a pass over every Ingress plans, after any sequence of changes', () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 40 }), fc.boolean(), (steps, watchWithoutClass) => {
        const selection: ClassSelection = { ...DEFAULT_CLASS_SELECTION, watchWithoutClass };
        const state = new ClusterState();
        const planner = new IngressStatusPlanner(state, selection);
        const stored = new Map<number, Ingress>();
        let version = 0;
        let points: readonly IngressPoint[] = A;
        let previous: readonly (readonly IngressPoint[])[] = [];
        for (const step of steps) {
          version++;
          if (step.op === 'ingress') {
            const next = ingress(step.n, CLASSES[step.className], STATUSES[step.status], ['/', '/a', '/b'][step.path]!, version);
            stored.set(step.n, next);
            state.upsert(next);
          } else if (step.op === 'status') {
            const before = stored.get(step.n);
            if (before === undefined) continue;
            // A status write coming back: the same spec, a new resourceVersion.
            const { status: _status, ...rest } = before as Ingress & { status?: unknown };
            const next = { ...rest, metadata: { ...before.metadata, resourceVersion: String(version) }, ...(STATUSES[step.status] === undefined ? {} : { status: STATUSES[step.status] }) } as Ingress;
            stored.set(step.n, next);
            state.upsert(next);
          } else if (step.op === 'remove') {
            const before = stored.get(step.n);
            stored.delete(step.n);
            if (before !== undefined) state.remove(before);
          } else if (step.op === 'class') {
            const object = ingressClass(step.name, step.mine, step.isDefault) as KubeObject;
            if (step.present) state.upsert(object);
            else state.remove(object);
          } else if (step.op === 'reset') planner.reset();
          else {
            if (step.fresh) {
              points = POINTS[step.points]!;
              previous = step.previous.map((k) => POINTS[k]!);
            }
            expect(outcome(() => planner.plan(points, previous))).toEqual(outcome(() => planStatusUpdates(state, selection, points, previous)));
          }
        }
        // And once more at the end, whatever the last step was.
        expect(outcome(() => planner.plan(A, [B]))).toEqual(outcome(() => planStatusUpdates(state, selection, A, [B])));
      }),
      { numRuns: 1000 },
    );
  });

  it('judges again the Ingresses of a class that changed, and class-less ones when the default class changes', () => {
    const state = new ClusterState();
    const planner = new IngressStatusPlanner(state, DEFAULT_CLASS_SELECTION);
    state.upsert(ingress(1, 'ic-mine', undefined, '/', 1));
    state.upsert(ingress(2, undefined, undefined, '/', 2));
    state.upsert(ingress(3, 'portico', { loadBalancer: { ingress: A } }, '/', 3));
    expect(planner.plan(A)).toEqual([]);
    state.upsert(ingressClass('ic-mine', true, false));
    expect(planner.plan(A).map((update) => update.name)).toEqual(['web-1']);
    state.upsert(ingressClass('ic-theirs', true, true));
    expect(planner.plan(A).map((update) => update.name)).toEqual(['web-1', 'web-2']);
    state.remove(ingressClass('ic-mine', true, false));
    expect(planner.plan(A)).toEqual(planStatusUpdates(state, DEFAULT_CLASS_SELECTION, A));
    expect(planner.plan(A).map((update) => update.name)).toEqual(['web-2']);
  });

  it('looks at the edited Ingress alone in a pass after one edit, and at every Ingress when the addresses change', () => {
    const state = new ClusterState();
    // Ingresses whose spec is read through a counting getter (every verdict reads the class from it).
    let reads = 0;
    const counted = (n: number, status: unknown, path = '/', version = 1): Ingress => {
      const object = ingress(n, 'portico', status, path, version) as { spec: unknown };
      const spec = object.spec;
      Object.defineProperty(object, 'spec', { enumerable: true, get: () => (reads++, spec) });
      return object as Ingress;
    };
    for (let n = 0; n < 5000; n++) state.upsert(counted(n, { loadBalancer: { ingress: A } }));
    const planner = new IngressStatusPlanner(state, DEFAULT_CLASS_SELECTION);
    expect(planner.plan(A, [])).toEqual([]);
    state.upsert(counted(42, undefined, '/edited', 2));
    // The pass's reads alone (storing reads the object too: change detection, compaction).
    reads = 0;
    expect(planner.plan(A, [A])).toEqual([{ namespace: 'shop', name: 'web-42', points: A, observed: '2' }]);
    expect(reads).toBeLessThanOrEqual(5);
    // The write coming back: nothing left to plan.
    state.upsert(counted(42, { loadBalancer: { ingress: A } }, '/edited', 3));
    reads = 0;
    expect(planner.plan(A, [A])).toEqual([]);
    expect(reads).toBeLessThanOrEqual(5);
    // New addresses: every Ingress again.
    reads = 0;
    expect(planner.plan(B, [A])).toHaveLength(5000);
    expect(reads).toBeGreaterThanOrEqual(5000);
  });

  it('starts over after a pass that failed on an Ingress it cannot read, as a full pass would', () => {
    const state = new ClusterState();
    const planner = new IngressStatusPlanner(state, DEFAULT_CLASS_SELECTION);
    state.upsert(ingress(1, 'portico', undefined, '/', 1));
    expect(planner.plan(A)).toHaveLength(1);
    state.upsert(ingress(2, 'portico', { loadBalancer: { ingress: 'not a list' } }, '/', 2));
    state.upsert(ingress(3, 'portico', undefined, '/', 3));
    expect(() => planner.plan(A)).toThrow();
    expect(() => planStatusUpdates(state, DEFAULT_CLASS_SELECTION, A)).toThrow();
    state.upsert(ingress(2, 'portico', undefined, '/', 4));
    expect(planner.plan(A)).toEqual(planStatusUpdates(state, DEFAULT_CLASS_SELECTION, A));
    expect(planner.plan(A).map((update) => update.name)).toEqual(['web-1', 'web-3', 'web-2']);
  });
});
