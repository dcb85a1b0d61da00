/**
 * `upstream-vhost`, as ingress-nginx does it (docs/user-guide/nginx-configuration/annotations.md
 * "Custom NGINX upstream vhost"; test/e2e/annotations/upstreamvhost.go): the request goes to the
 * endpoint with `Host: <value>` instead of the Host the client sent (nginx
 * `proxy_set_header Host <value>`). X-Forwarded-Host keeps the client's Host.
 *
 * The value must be a host name or IPv4 address with an optional port; anything else (nginx
 * variables such as `$host`, spaces, a scheme) is not applied, with a Warning, and the client's
 * Host goes upstream as without the annotation.
 */
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts } from './module.ts';

/** A DNS name (or dotted IPv4 address) of letters, digits, `-` and `.`, and an optional port. */
const VHOST = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*(?::\d{1,5})?$/;

function readVhost(reader: AnnotationReader): string | undefined {
  const value = reader.string('upstream-vhost');
  if (value === undefined) return undefined;
  if (value.length <= 259 && VHOST.test(value)) return value;
  reader.warn('upstream-vhost', `${JSON.stringify(value)} is not a host name with an optional port (nginx variables are not supported); not applied, the client's Host goes upstream`);
  return undefined;
}

/** `upstream-vhost`: the Host header sent to the endpoints. */
export const upstreamVhostModule: PolicyModule<string> = {
  key: 'upstreamVhost',
  phase: 'request',
  annotations: [{ name: 'upstream-vhost', support: 'honoured', note: 'the endpoint gets Host: <value> instead of the client\'s Host (X-Forwarded-Host keeps the client\'s); a host name with an optional port, nginx variables not supported (Warning)' }],
  schema: (z) => z.string().max(259).regex(VHOST),
  read: readVhost,
  prepare: (vhost) => (_facts: RequestFacts, outcome: PolicyOutcome) => {
    outcome.setHeaders.push(['Host', vhost]);
  },
  describe: (vhost) => `upstream-vhost: the backend gets Host: ${vhost}`,
};
