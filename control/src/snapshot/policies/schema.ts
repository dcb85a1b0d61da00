/**
 * The snapshot schema of a route's `policies`: one optional member per policy module, each the
 * module's own `schema` built with zod here. Only the control plane (and `portico dataplane`'s
 * primary, which parses what it fetches) imports this file; a data-plane worker never does, so
 * the module files import zod as a type only and this is the one file of the folder that loads it.
 */
import { z } from 'zod';
import { accessModule } from './access.ts';
import { authTlsModule } from './auth-tls.ts';
import { corsModule } from './cors.ts';
import { limitsModule } from './limits.ts';
import { appRootModule, forwardedPrefixModule } from './app-root.ts';
import { redirectModule } from './redirect.ts';
import { rewriteModule, useRegexModule } from './rewrite.ts';
import { trailingSlashModule } from './trailing-slash.ts';
import { proxyModule } from './proxy.ts';
import { upstreamVhostModule } from './upstream-vhost.ts';
import { canaryModule } from './canary.ts';
import { externalAuthModule } from './external-auth.ts';
import { requestHeaderModifierModule, responseHeaderModifierModule } from './gateway-headers.ts';
import { requestRedirectModule, urlRewriteModule } from './gateway-redirect.ts';
import { timeoutsModule } from './gateway-timeouts.ts';
import { requestMirrorModule } from './gateway-mirror.ts';
import { mirrorTargetModule } from './mirror-target.ts';
import { upstreamHashModule } from './upstream-hash.ts';
import { affinityModule } from './affinity.ts';
import { backendErrorModule } from './gateway-backend-error.ts';
import { wwwRedirectModule } from './www-redirect.ts';
import { nextUpstreamModule } from './next-upstream.ts';
import { proxyRedirectModule } from './proxy-redirect.ts';
import { customHeadersModule } from './custom-headers.ts';
import { defaultBackendModule } from './default-backend.ts';
import { sslPassthroughModule } from './ssl-passthrough.ts';
import { backendFiltersModule } from './gateway-backend-filters.ts';

/** Per-route policy data in the snapshot: one optional member per module, absent when unused. */
export const RoutePolicies = z.strictObject({
  redirect: redirectModule.schema(z).optional(),
  cors: corsModule.schema(z).optional(),
  limits: limitsModule.schema(z).optional(),
  authTls: authTlsModule.schema(z).optional(),
  access: accessModule.schema(z).optional(),
  useRegex: useRegexModule.schema(z).optional(),
  rewriteTarget: rewriteModule.schema(z).optional(),
  appRoot: appRootModule.schema(z).optional(),
  xForwardedPrefix: forwardedPrefixModule.schema(z).optional(),
  preserveTrailingSlash: trailingSlashModule.schema(z).optional(),
  proxy: proxyModule.schema(z).optional(),
  upstreamVhost: upstreamVhostModule.schema(z).optional(),
  canary: canaryModule.schema(z).optional(),
  externalAuth: externalAuthModule.schema(z).optional(),
  requestRedirect: requestRedirectModule.schema(z).optional(),
  urlRewrite: urlRewriteModule.schema(z).optional(),
  requestHeaderModifier: requestHeaderModifierModule.schema(z).optional(),
  responseHeaderModifier: responseHeaderModifierModule.schema(z).optional(),
  timeouts: timeoutsModule.schema(z).optional(),
  requestMirror: requestMirrorModule.schema(z).optional(),
  mirrorTarget: mirrorTargetModule.schema(z).optional(),
  upstreamHash: upstreamHashModule.schema(z).optional(),
  affinity: affinityModule.schema(z).optional(),
  backendError: backendErrorModule.schema(z).optional(),
  wwwRedirect: wwwRedirectModule.schema(z).optional(),
  nextUpstream: nextUpstreamModule.schema(z).optional(),
  proxyRedirect: proxyRedirectModule.schema(z).optional(),
  customHeaders: customHeadersModule.schema(z).optional(),
  defaultBackend: defaultBackendModule.schema(z).optional(),
  sslPassthrough: sslPassthroughModule.schema(z).optional(),
  backendFilters: backendFiltersModule.schema(z).optional(),
});
export type RoutePolicies = z.infer<typeof RoutePolicies>;
