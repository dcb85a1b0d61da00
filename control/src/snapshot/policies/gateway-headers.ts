/**
 * Gateway API `RequestHeaderModifier` and `ResponseHeaderModifier` filters
 * (sigs.k8s.io/gateway-api apis/v1 HTTPHeaderFilter): `set` replaces every received field of the
 * name with one line, `add` appends a line and keeps the received ones (a client reading the
 * field sees `old,new`), `remove` drops every field of the name. Names are case-insensitive.
 * The request side applies to what goes to the endpoint, the response side to what the client
 * gets from the endpoint. Values were validated when the filter was read (gateway-filters.ts).
 */
import type { z } from 'zod';
import type { PolicyModule, PolicyOutcome, RequestFacts, Zod } from './module.ts';

/** An HTTP field name (RFC 9110 token). */
export const FIELD_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A field value Portico writes as is: visible ASCII, spaces and tabs inside, obs-text; no CR, LF or NUL. */
// eslint-disable-next-line no-control-regex -- a tab is the one control character a value may hold
export const FIELD_VALUE = /^(?:[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x09\x80-\xff]*[\x21-\x7e\x80-\xff])?)?$/;

/** One HTTPHeaderFilter as the snapshot keeps it (every list present, maybe empty). */
export function headerModifierSchema(z: Zod) {
  const header = z.strictObject({ name: z.string().min(1).max(256).regex(FIELD_NAME), value: z.string().max(4096).regex(FIELD_VALUE) });
  return z.strictObject({
    set: z.array(header).max(16),
    add: z.array(header).max(16),
    remove: z.array(z.string().min(1).max(256).regex(FIELD_NAME)).max(16),
  });
}
export type HeaderModifier = z.infer<ReturnType<typeof headerModifierSchema>>;

/** One line per list that has entries, for explain. */
function describeModifier(side: string, data: HeaderModifier): string {
  const parts = [
    ...(data.set.length === 0 ? [] : [`set ${data.set.map((h) => `${h.name}: ${h.value}`).join(', ')}`]),
    ...(data.add.length === 0 ? [] : [`add ${data.add.map((h) => `${h.name}: ${h.value}`).join(', ')}`]),
    ...(data.remove.length === 0 ? [] : [`remove ${data.remove.join(', ')}`]),
  ];
  return `${side} headers (Gateway API ${side === 'request' ? 'RequestHeaderModifier' : 'ResponseHeaderModifier'}): ${parts.join('; ')}`;
}

/** The filter's work as pairs, made once per snapshot load. */
function pairs(data: HeaderModifier): { set: [string, string][]; add: [string, string][]; remove: string[] } {
  return { set: data.set.map((h) => [h.name, h.value]), add: data.add.map((h) => [h.name, h.value]), remove: data.remove.map((name) => name.toLowerCase()) };
}

/** The lists of the outcome one side's modifier writes into. */
type Lists = (outcome: PolicyOutcome) => { set: [string, string][]; add: [string, string][]; remove: string[] };

/** A header-modifier module for one side: `lists` says where in the outcome its work goes. */
function headerModifierModule(key: string, side: 'request' | 'response', lists: Lists): PolicyModule<HeaderModifier> {
  return {
    key,
    phase: 'request',
    annotations: [],
    schema: headerModifierSchema,
    prepare(data) {
      const { set, add, remove } = pairs(data);
      return (_facts: RequestFacts, outcome: PolicyOutcome) => {
        const into = lists(outcome);
        into.set.push(...set);
        into.add.push(...add);
        into.remove.push(...remove);
      };
    },
    describe: (data) => describeModifier(side, data),
  };
}

/** Request headers: set, add and remove on what goes to the endpoint. */
export const requestHeaderModifierModule = headerModifierModule('requestHeaderModifier', 'request', (o) => ({ set: o.setHeaders, add: o.addHeaders, remove: o.removeHeaders }));

/** Response headers: set, add and remove on what the client gets from the endpoint. */
export const responseHeaderModifierModule = headerModifierModule('responseHeaderModifier', 'response', (o) => ({ set: o.responseHeaders, add: o.responseAdd, remove: o.responseRemove }));
