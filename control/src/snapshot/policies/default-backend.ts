/**
 * ingress-nginx `default-backend` and `custom-http-errors` (with `disable-proxy-intercept-errors`),
 * as its annotation reference ("Default Backend", "Custom HTTP Errors"), user-guide/custom-errors.md,
 * its template (`CUSTOM_ERRORS`, the location's `error_page <code> = @custom_…`) and its e2e tests
 * (test/e2e/annotations/default_backend.go, customhttperrors.go, disableproxyintercepterrors.go)
 * say:
 *
 * - `default-backend: <svc>` names a Service of the Ingress's namespace (a DNS-1035 label; its
 *   first port). When the rule's Service has no active endpoint, the request goes there instead,
 *   with `X-Code: 503` and the fields below; the client gets its answer as is (e2e: 200, body
 *   showing `x-code=503`).
 * - `custom-http-errors: 404,500`: when the endpoint answers one of these statuses (400-599, the
 *   annotation's validator), or Portico would answer one itself (502, 504, 413: nginx's `error_page`
 *   covers its own errors), its response is dropped and the request goes to the default backend
 *   for `/` (the query kept) with `X-Code`, `X-Format` (the client's Accept), `X-Original-URI`,
 *   `X-Namespace`, `X-Ingress-Name`, `X-Service-Name`, `X-Service-Port` and the same
 *   `X-Request-ID`; its response goes to the client unchanged ("NGINX does not change the response
 *   from the custom default backend"). Once only: the default backend's own answer is never
 *   intercepted (nginx's `recursive_error_pages` off).
 *
 * The data plane does the re-dispatch (dataplane/src/exchange.ts); the default backend is a hidden
 * route of the matcher table (RouteFacts.fallback), so its endpoints are picked and health-checked
 * like any backend's. The build resolves the Service (control/src/build/default-backend.ts) and
 * fills in the rule's own Service name and port.
 */
import type { z } from 'zod';
import type { AnnotationReader, FallbackPlan, PolicyModule, RouteFacts, Zod } from './module.ts';

/** Most codes one annotation may list (every status 400-599 is 200). */
const MAX_CODES = 200;

/** What the default backend of a route is and when it answers. */
function defaultBackendSchema(z: Zod) {
  return z.strictObject({
    /** The `default-backend` Service (its name as written, in the Ingress's namespace); null when not set. */
    service: z.string().min(1).max(63).nullable(),
    /** Its first port, as resolved by the build; null when unresolved (nothing is re-dispatched). */
    port: z.number().int().min(1).max(65535).nullable(),
    /** Key into the snapshot's endpoint sets; null when the Service did not resolve. */
    endpointSet: z.string().nullable(),
    /** `custom-http-errors`, ascending and distinct; empty when not set or intercepting is disabled. */
    codes: z.array(z.number().int().min(400).max(599)).max(MAX_CODES),
    /** `X-Namespace` and `X-Ingress-Name`: the Ingress. */
    namespace: z.string(),
    ingress: z.string(),
    /** `X-Service-Name` and `X-Service-Port`: the rule's own backend (filled per rule by the build; '' for none). */
    serviceName: z.string(),
    servicePort: z.string(),
  });
}
export type DefaultBackendPolicy = z.infer<ReturnType<typeof defaultBackendSchema>>;

const DNS_1035_LABEL = /^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Parses a custom-http-errors value: comma-separated statuses 400-599, spaces allowed, empty items
 * skipped (ingress-nginx's regex and parser). Returns the ascending distinct codes, or the reason
 * the value is unreadable.
 */
export function parseErrorCodes(value: string): number[] | { readonly problem: string } {
  const codes = new Set<number>();
  for (const item of value.split(',')) {
    const text = item.trim();
    if (text === '') continue;
    if (!/^\d{3}$/.test(text)) return { problem: `${JSON.stringify(text)} is not an HTTP status code` };
    const code = Number(text);
    if (code < 400 || code > 599) return { problem: `${code} is outside 400-599 (ingress-nginx accepts only 4xx and 5xx codes)` };
    codes.add(code);
  }
  if (codes.size === 0) return { problem: 'no status code is listed' };
  return [...codes].sort((a, b) => a - b);
}

/** The request header fields every re-dispatch carries for a route (X-Code and the request's own are added per request). */
function fixedFields(data: DefaultBackendPolicy): [string, string][] {
  return [
    ['X-Namespace', data.namespace],
    ['X-Ingress-Name', data.ingress],
    ['X-Service-Name', data.serviceName],
    ['X-Service-Port', data.servicePort],
  ];
}

/** default-backend + custom-http-errors: a fallback plan for the data plane, no request step. */
export const defaultBackendModule: PolicyModule<DefaultBackendPolicy> = {
  key: 'defaultBackend',
  phase: 'request',
  annotations: [
    { name: 'default-backend', support: 'honoured', note: 'a Service of the Ingress\'s namespace (first port) answers when the rule\'s Service has no ready endpoint (X-Code: 503 and ingress-nginx\'s X-* fields), and takes the custom-http-errors re-dispatch; a missing Service is a Warning and ignored, a name that is not a DNS-1035 label (another namespace) refuses the Ingress' },
    { name: 'custom-http-errors', support: 'approximated', note: 'an endpoint response with a listed status (400-599) is dropped unread and the request goes once to the default-backend Service for / with X-Code, X-Format, X-Original-URI, X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID; its answer reaches the client unchanged. Without default-backend nothing is intercepted (Portico has no global default backend; Warning); the re-dispatched request carries no body; a failing default backend answers the original status' },
    { name: 'disable-proxy-intercept-errors', support: 'honoured', note: '"true" turns custom-http-errors off for the Ingress (the endpoint\'s response is relayed)' },
  ],
  schema: defaultBackendSchema,
  read(reader: AnnotationReader) {
    const serviceValue = reader.string('default-backend');
    const codesValue = reader.string('custom-http-errors');
    if (serviceValue === undefined && codesValue === undefined) return undefined;
    let service: string | null = null;
    if (serviceValue !== undefined) {
      if (DNS_1035_LABEL.test(serviceValue)) service = serviceValue;
      else reader.refuse('default-backend', `${JSON.stringify(serviceValue)} is not a Service name (a DNS-1035 label); ingress-nginx reads only a Service of the Ingress's own namespace, by name, and refuses the Ingress otherwise`);
    }
    let codes: number[] = [];
    if (codesValue !== undefined) {
      const parsed = parseErrorCodes(codesValue);
      if ('problem' in parsed) reader.refuse('custom-http-errors', `${parsed.problem}; expected comma-separated status codes 400-599, as ingress-nginx validates`);
      else if (reader.boolean('disable-proxy-intercept-errors', false)) reader.warn('custom-http-errors', 'disable-proxy-intercept-errors is "true": responses are relayed as the endpoint sent them');
      else codes = parsed;
      if (serviceValue === undefined && codes.length !== 0) {
        reader.warn('custom-http-errors', 'no default-backend annotation: Portico has no global default backend (ingress-nginx\'s --default-backend-service), so these responses are relayed unchanged; set nginx.ingress.kubernetes.io/default-backend to a Service that renders error pages');
        return undefined;
      }
    }
    if (service === null) return undefined;
    return { service, port: null, endpointSet: null, codes, namespace: reader.namespace, ingress: reader.name, serviceName: '', servicePort: '' };
  },
  prepare: () => undefined,
  fallback(data, route: RouteFacts): FallbackPlan | undefined {
    if (route.fallback === undefined || data.endpointSet === null) return undefined;
    const intercepted = new Uint8Array(600);
    for (const code of data.codes) intercepted[code] = 1;
    return { route: route.fallback, intercepted, fields: fixedFields(data) };
  },
  describe: (data) => {
    const where = `default backend Service ${data.namespace}/${data.service ?? '?'}:${data.port ?? '?'}`;
    return data.codes.length === 0 ? `${where} answers when the rule's Service has no ready endpoint (X-Code: 503)` : `${where} answers when the rule's Service has no ready endpoint (X-Code: 503) and instead of endpoint responses with status ${data.codes.join(', ')} (custom-http-errors, once)`;
  },
};
