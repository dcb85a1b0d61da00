/**
 * `preserve-trailing-slash` and the path of the HTTPS redirect (`ssl-redirect`,
 * `force-ssl-redirect`) as ingress-nginx writes it (rootfs/etc/nginx/lua/lua_ingress.lua): the
 * Location is `https://<host><request_uri>`, where request_uri is the request-target as received
 * (not normalized), with one trailing `/` removed unless `preserve-trailing-slash` is "true"
 * (so `/` redirects to `https://host`, `/a/` to `https://host/a`, and `/a/?x` keeps its slash).
 */
import type { PolicyModule } from './module.ts';

/** Pure: the request-target part of an HTTPS redirect's Location. */
export function httpsRedirectTarget(requestUri: string, preserveTrailingSlash: boolean): string {
  return !preserveTrailingSlash && requestUri.endsWith('/') ? requestUri.slice(0, -1) : requestUri;
}

/** `preserve-trailing-slash`: keep the trailing slash in HTTPS redirects. */
export const trailingSlashModule: PolicyModule<true> = {
  key: 'preserveTrailingSlash',
  phase: 'redirect',
  annotations: [{ name: 'preserve-trailing-slash', support: 'honoured', note: 'the HTTPS redirect keeps a trailing "/" of the request-target (by default it is removed, as ingress-nginx does)' }],
  schema: (z) => z.literal(true),
  read: (reader) => (reader.boolean('preserve-trailing-slash', false) ? true : undefined),
  prepare: () => undefined,
  describe: () => 'preserve-trailing-slash: an HTTPS redirect keeps the trailing slash',
};
