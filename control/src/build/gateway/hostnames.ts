/**
 * Gateway API hostnames: a listener's hostname and a route's hostnames intersect into the host
 * names the route is served for. Unlike Ingress, a Gateway API wildcard `*.example.com` stands for
 * one OR MORE labels (`a.example.com`, `a.b.example.com`), never for `example.com` itself.
 */

/** Whether `name` (exact or wildcard) lies within `pattern` (exact or wildcard), Gateway API semantics. Pure. */
export function hostWithin(name: string, pattern: string): boolean {
  if (!pattern.startsWith('*.')) return name === pattern;
  const suffix = pattern.slice(1); // `.example.com`
  // `*.a.example.com` lies within `*.example.com`; `*.example.com` within itself.
  if (name.startsWith('*.')) return name === pattern || name.slice(1).endsWith(suffix);
  return name.length > suffix.length && name.endsWith(suffix);
}

/**
 * The host names a route with `routeHosts` serves through a listener with `listenerHost`:
 * each route hostname within the listener's, plus the listener's own where a broader route
 * wildcard covers it; `['*']` (any host) when neither sets one. An empty result means no
 * intersection (NoMatchingListenerHostname). Lower-cased, deduplicated, sorted. Pure.
 */
export function intersectHostnames(listenerHost: string | undefined, routeHosts: readonly string[] | undefined): string[] {
  const listener = listenerHost?.toLowerCase();
  const routes = (routeHosts ?? []).map((host) => host.toLowerCase());
  if (routes.length === 0) return [listener ?? '*'];
  if (listener === undefined) return [...new Set(routes)].sort();
  const out = new Set<string>();
  for (const host of routes) {
    if (hostWithin(host, listener)) out.add(host);
    else if (hostWithin(listener, host)) out.add(listener);
  }
  return [...out].sort();
}
