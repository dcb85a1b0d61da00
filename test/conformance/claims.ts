/**
 * What Portico claims in the Gateway API conformance report (profile GATEWAY-HTTP), and the Core
 * tests it knows it does not pass yet, each with its reason. `npm run conformance:gateway` and
 * test/e2e/gateway-conformance.test.ts hold the run to exactly this: every Core test not listed
 * here and every test of a claimed Extended feature must pass, and a listed test that passes
 * must be taken off the list (the list stays true). Change it together with the code that makes
 * a test pass.
 */

/** The conformance profile Portico reports on. */
export const PROFILE = 'GATEWAY-HTTP';

/** GatewayClass the suite runs against, and the controllerName Portico answers to. */
export const GATEWAY_CLASS = 'portico';
export const CONTROLLER_NAME = 'portico.dev/gateway-controller';

/**
 * Extended features of the GATEWAY-HTTP profile Portico claims (the suite runs their tests and
 * they must pass). Core features (Gateway, HTTPRoute, ReferenceGrant) come with the profile.
 */
export const CLAIMED_EXTENDED_FEATURES: readonly string[] = [
  'HTTPRouteQueryParamMatching',
  'HTTPRouteMethodMatching',
  'HTTPRouteResponseHeaderModification',
  'HTTPRouteBackendRequestHeaderModification', // header modifiers on a backendRef (docs/gateway-filters.md)
  'HTTPRoutePathRedirect',
  'HTTPRoutePortRedirect',
  'HTTPRouteSchemeRedirect',
  'HTTPRoute303RedirectStatusCode',
  'HTTPRoute307RedirectStatusCode',
  'HTTPRoute308RedirectStatusCode',
  'HTTPRouteHostRewrite',
  'HTTPRoutePathRewrite',
  'HTTPRouteRequestTimeout',
  'HTTPRouteBackendTimeout',
  'HTTPRouteBackendProtocolWebSocket',
  'HTTPRouteBackendProtocolH2C', // with the data plane's --h2c (the runner passes it)
  'HTTPRouteDestinationPortMatching',
  'HTTPRouteNamedRouteRule',
  'HTTPRouteRequestMirror', // the suite reads the mirror pod's logs: kubectl logs on the test cluster
  'HTTPRouteRequestMultipleMirrors',
  'HTTPRouteRequestPercentageMirror',
  'GatewayHTTPListenerIsolation', // each Gateway on its own address (--gateway-address): the runner gives eight
];

/**
 * Core tests of the profile Portico does not pass yet: test short name → why. Empty means
 * every Core test must pass.
 */
export const CORE_EXCEPTIONS: Readonly<Record<string, string>> = {};

/** The implementation block of the report. */
export const IMPLEMENTATION = {
  organization: 'portico',
  project: 'portico',
  url: 'https://portico.dev',
  contact: ['portico maintainers'],
} as const;
