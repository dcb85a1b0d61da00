/**
 * Gateway API `RequestMirror` filter (sigs.k8s.io/gateway-api apis/v1 HTTPRequestMirrorFilter):
 * a copy of each request (or of the `percent` / `fraction` of them) goes to another backend,
 * fire-and-forget: its response is read and dropped, and nothing about it (slowness, failure, no
 * endpoint) reaches the client or delays the real exchange. The data plane sends the copies
 * (dataplane/src/mirror.ts), bounded in number, time and body size; each mirror's backend is a
 * hidden route of the matcher table (so endpoint choice and health are the usual ones), whose id
 * comes to the step in RouteFacts.mirrors.
 */
import type { z } from 'zod';
import type { PolicyModule, PolicyOutcome, RequestFacts, RouteFacts, Zod } from './module.ts';

/** One mirror: the backend (resolved by the build) and the share of requests copied. */
function mirrorSchema(z: Zod) {
  return z.strictObject({
    namespace: z.string(),
    service: z.string(),
    port: z.union([z.number().int(), z.string()]),
    /** Key into the snapshot's endpoint sets; null when the backend has no endpoints (nothing is sent). */
    endpointSet: z.string().nullable(),
    /** The copied share is numerator/denominator (percent p is p/100). */
    numerator: z.number().int().min(0).max(1_000_000),
    denominator: z.number().int().min(1).max(1_000_000),
  }).refine((mirror) => mirror.numerator <= mirror.denominator, { message: 'numerator must not exceed denominator' });
}
export type Mirror = z.infer<ReturnType<typeof mirrorSchema>>;

/** A rule's mirrors. */
function requestMirrorsSchema(z: Zod) {
  return z.strictObject({ mirrors: z.array(mirrorSchema(z)).min(1).max(16) });
}
export type RequestMirrors = z.infer<ReturnType<typeof requestMirrorsSchema>>;

/** The mirror route ids a request is copied to this time (`random` in [0, 1)). */
export function chooseMirrors(data: RequestMirrors, routes: readonly number[], random: () => number = Math.random): number[] {
  const chosen: number[] = [];
  data.mirrors.forEach((mirror, i) => {
    const route = routes[i];
    if (route === undefined || mirror.numerator === 0) return;
    if (mirror.numerator === mirror.denominator || random() * mirror.denominator < mirror.numerator) chosen.push(route);
  });
  return chosen;
}

/** RequestMirror: names the mirror routes each request is copied to. */
export const requestMirrorModule: PolicyModule<RequestMirrors> = {
  key: 'requestMirror',
  phase: 'request',
  annotations: [],
  schema: requestMirrorsSchema,
  prepare(data, route: RouteFacts) {
    const routes = route.mirrors ?? [];
    if (routes.length === 0) return undefined;
    return (_facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.mirrors.push(...chooseMirrors(data, routes));
    };
  },
  describe: (data) => `mirrored (Gateway API RequestMirror, fire-and-forget) to ${data.mirrors.map((m) => `${m.namespace}/${m.service}:${m.port}${m.numerator === m.denominator ? '' : ` (${m.numerator}/${m.denominator})`}`).join(', ')}`,
};
