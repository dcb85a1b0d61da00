/**
 * `custom-headers: <namespace>/<name>`: every entry of that ConfigMap is set on the responses of
 * the Ingress's routes, replacing a field of the same name the endpoint sent, as ingress-nginx
 * ≥ 1.9 writes `more_set_headers "<name>: <value>"` (internal/ingress/annotations/customheaders,
 * test/e2e/annotations/customheaders.go). Values are literal (`$remote_addr` goes out as written,
 * as in that test). A missing ConfigMap, one in another namespace or an entry Portico cannot send
 * as written refuses the Ingress (503, Error naming the key), as ingress-nginx denies the location.
 */
import type { PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';
import type { ConfigMapHeaders } from './header-configmap.ts';
import { configMapHeadersSchema, readHeaderConfigMap } from './header-configmap.ts';

const NO_RESERVED: ReadonlyMap<string, string> = new Map();

/** The custom-headers module. */
export const customHeadersModule: PolicyModule<ConfigMapHeaders> = {
  key: 'customHeaders',
  phase: 'request',
  annotations: [
    {
      name: 'custom-headers',
      support: 'approximated',
      note: 'each entry of the ConfigMap (same namespace only) is set on the responses of proxied requests, replacing the endpoint\'s field of that name; values literal. No global-allowed-response-headers list: any valid name but framing fields; an invalid entry or missing ConfigMap refuses the Ingress (503)',
    },
  ],
  schema: configMapHeadersSchema,
  read(reader) {
    const read = readHeaderConfigMap(reader, 'custom-headers', { reserved: NO_RESERVED, variables: false });
    return read === 'refused' ? undefined : read;
  },
  prepare(data) {
    const pairs: [string, string][] = data.headers.map((header) => [header.name, header.value]);
    return (_facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.responseHeaders.push(...pairs);
    };
  },
  describe: (data) => `response headers from ConfigMap ${data.configMap}: ${data.headers.map((header) => `${header.name}: ${header.value}`).join(', ') || '(none)'}`,
};
