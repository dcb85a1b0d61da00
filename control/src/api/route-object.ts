/**
 * The friendly route object of the REST API and its 1:1 mapping onto a `networking.k8s.io/v1`
 * Ingress: `hosts` × `paths` become one rule per host (or one host-less rule), `tls` one
 * `spec.tls` entry, `sslRedirect` / `forceSslRedirect` the ingress-nginx annotations. What an
 * Ingress cannot say (weighted backend splits, today) is rejected with 422 instead of being
 * approximated; an Ingress the friendly shape cannot say is still stored and served, and reads
 * back with `route: null` and the reason.
 */
import { isDeepStrictEqual } from 'node:util';
import { z } from 'zod';
import { NGINX_PREFIX } from '../build/annotations.ts';
import { hostProblem, pathProblem } from '../build/validate.ts';
import type { Ingress } from '../state/objects.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../sources/store/route-store.ts';
import type { FieldError } from './problem.ts';
import { ApiError, invalid } from './problem.ts';

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const PORT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SSL_REDIRECT = `${NGINX_PREFIX}ssl-redirect`;
const FORCE_SSL_REDIRECT = `${NGINX_PREFIX}force-ssl-redirect`;

/** A namespace name (RFC 1123 label). */
export const NamespaceName = z.string().min(1).max(63).regex(DNS_LABEL, 'must be a lower-case RFC 1123 label');
/** An object name (RFC 1123 subdomain). */
export const ObjectName = z.string().min(1).max(253).regex(DNS_SUBDOMAIN, 'must be a lower-case RFC 1123 subdomain');

const Host = z
  .string()
  .max(253)
  .superRefine((host, ctx) => {
    const problem = hostProblem(host);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `host ${JSON.stringify(host)} ${problem}` });
  });

/** A Service port behind a path, with an optional weight (one backend per path can be represented today). */
export const RouteBackend = z
  .strictObject({
    service: z.string().min(1).max(63).regex(DNS_LABEL, 'must be a Service name (RFC 1123 label)'),
    port: z.union([z.number().int().min(1).max(65535), z.string().min(1).max(15).regex(PORT_NAME, 'must be a port name (IANA_SVC_NAME)')]),
    // The document says what is representable today (100 or nothing); validation explains why in a 422.
    weight: z.number().int().min(0).max(100).optional().meta({ const: 100, description: 'Share of traffic. Today a path has exactly one backend, which takes all of it (100); weighted splits will map to canary Ingresses.' }),
  })
  .meta({ id: 'RouteBackend' });
export type RouteBackend = z.infer<typeof RouteBackend>;

/** One path of a route; applies to every host of the route. */
export const RoutePath = z
  .strictObject({
    path: z
      .string()
      .max(2048)
      .superRefine((path, ctx) => {
        const problem = pathProblem(path);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', message: `path ${JSON.stringify(path)} ${problem}` });
      }),
    pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific']).default('Prefix'),
    backends: z.array(RouteBackend).min(1).max(16).meta({ maxItems: 1, description: 'Exactly one backend per path today.' }),
  })
  .meta({ id: 'RoutePath' });

/** The friendly route: what most callers write instead of an Ingress. */
export const Route = z
  .strictObject({
    namespace: NamespaceName.optional().describe('Default: the namespace in the URL, else "default".'),
    name: ObjectName,
    ingressClassName: z.string().min(1).max(253).regex(DNS_SUBDOMAIN).optional(),
    hosts: z.array(Host).max(100).default([]).describe('Empty: the paths apply to every host.'),
    paths: z.array(RoutePath).max(1000).default([]),
    defaultBackend: RouteBackend.optional().describe('Answers what no path of these hosts matches.'),
    tls: z
      .strictObject({
        secretName: ObjectName.describe('A kubernetes.io/tls Secret in the route namespace.'),
        hosts: z.array(Host).max(100).optional().describe('Default: every host of the route.'),
      })
      .optional(),
    sslRedirect: z.boolean().optional().describe('nginx.ingress.kubernetes.io/ssl-redirect; unset: redirect to HTTPS when the host has TLS.'),
    forceSslRedirect: z.boolean().optional().describe('nginx.ingress.kubernetes.io/force-ssl-redirect.'),
  })
  .meta({ id: 'Route' });
export type Route = z.output<typeof Route>;

/** A route body after parsing: the Ingress to store and which shape the caller used (for pointers). */
export interface ParsedRoute {
  readonly ingress: Ingress;
  readonly form: 'route' | 'ingress';
}

/** The resource the API answers with: the friendly view when the Ingress has one, and the Ingress itself. */
export interface RouteResource {
  readonly namespace: string;
  readonly name: string;
  readonly etag: string;
  readonly route: Route | null;
  /** Why `route` is null: what the friendly shape cannot express. */
  readonly unrepresentable?: string;
  readonly ingress: Ingress;
}

function backendOf(backend: RouteBackend, pointer: string, errors: FieldError[]): NonNullable<Ingress['spec']['defaultBackend']> {
  if (backend.weight !== undefined && backend.weight !== 100) {
    errors.push({ pointer: `${pointer}/weight`, reason: 'a single backend always takes all traffic: omit weight or set 100 (an Ingress has no weight field)' });
  }
  return { service: { name: backend.service, port: typeof backend.port === 'number' ? { number: backend.port } : { name: backend.port } } };
}

/** Maps a validated friendly route onto its Ingress. Throws ApiError 422 for what an Ingress cannot express. */
export function routeToIngress(route: Route, namespace: string): Ingress {
  const errors: FieldError[] = [];
  const paths = route.paths.map((path, index) => {
    if (path.backends.length > 1) {
      errors.push({
        pointer: `/paths/${index}/backends/1`,
        reason: 'weighted splits over several backends are not representable yet (they will map to canary Ingresses); give exactly one backend per path',
      });
    }
    return { path: path.path, pathType: path.pathType, backend: backendOf(path.backends[0]!, `/paths/${index}/backends/0`, errors) };
  });
  const defaultBackend = route.defaultBackend === undefined ? undefined : backendOf(route.defaultBackend, '/defaultBackend', errors);
  if (paths.length === 0 && defaultBackend === undefined) errors.push({ pointer: '/paths', reason: 'a route needs at least one path or a defaultBackend' });
  if (new Set(route.hosts).size !== route.hosts.length) errors.push({ pointer: '/hosts', reason: 'hosts must be unique' });
  if (errors.length > 0) throw new ApiError('PORTICO_E_ROUTE_INVALID', `route ${namespace}/${route.name} cannot be stored: ${errors[0]!.reason}`, { errors });

  const annotations: Record<string, string> = {};
  if (route.sslRedirect !== undefined) annotations[SSL_REDIRECT] = String(route.sslRedirect);
  if (route.forceSslRedirect !== undefined) annotations[FORCE_SSL_REDIRECT] = String(route.forceSslRedirect);
  // A host rule without paths still scopes the default backend to that host (as the build stage reads it).
  const http = paths.length === 0 ? {} : { http: { paths } };
  const rules = route.hosts.length > 0 ? route.hosts.map((host) => ({ host, ...http })) : paths.length > 0 ? [http] : [];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: route.name,
      namespace,
      labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec: {
      ...(route.ingressClassName !== undefined ? { ingressClassName: route.ingressClassName } : {}),
      ...(defaultBackend !== undefined ? { defaultBackend } : {}),
      ...(route.tls !== undefined ? { tls: [{ ...(route.tls.hosts !== undefined ? { hosts: route.tls.hosts } : {}), secretName: route.tls.secretName }] } : {}),
      ...(rules.length > 0 ? { rules } : {}),
    },
  };
}

type IngressBackend = NonNullable<Ingress['spec']['defaultBackend']>;

function friendlyBackend(backend: IngressBackend): RouteBackend | string {
  if (backend.service === undefined || Object.keys(backend).length !== 1) return 'a backend that is not a plain Service port';
  const port = backend.service.port.number ?? backend.service.port.name;
  if (port === undefined) return 'a backend without a port';
  return { service: backend.service.name, port };
}

/** The friendly view of an Ingress, or the reason there is none (the Ingress is still a valid route). */
export function ingressToRoute(ingress: Ingress): { route: Route } | { reason: string } {
  const meta = ingress.metadata;
  const extraAnnotations = Object.keys(meta.annotations ?? {}).filter((key) => key !== SSL_REDIRECT && key !== FORCE_SSL_REDIRECT);
  if (extraAnnotations.length > 0) return { reason: `annotation ${extraAnnotations[0]} has no friendly field` };
  const extraLabels = Object.keys(meta.labels ?? {}).filter((key) => key !== MANAGED_BY_LABEL);
  if (extraLabels.length > 0) return { reason: `label ${extraLabels[0]} has no friendly field` };
  const readBool = (key: string): boolean | undefined | 'bad' => {
    const raw = meta.annotations?.[key];
    return raw === undefined ? undefined : raw === 'true' ? true : raw === 'false' ? false : 'bad';
  };
  const sslRedirect = readBool(SSL_REDIRECT);
  const forceSslRedirect = readBool(FORCE_SSL_REDIRECT);
  if (sslRedirect === 'bad' || forceSslRedirect === 'bad') return { reason: 'a redirect annotation is neither "true" nor "false"' };
  const { ingressClassName, defaultBackend, tls, rules = [], ...otherSpec } = ingress.spec;
  if (Object.keys(otherSpec).length > 0) return { reason: `spec.${Object.keys(otherSpec)[0]} has no friendly field` };
  if ((tls ?? []).length > 1) return { reason: 'more than one spec.tls entry' };
  const hosts: string[] = [];
  let paths: Route['paths'] = [];
  for (const [index, rule] of rules.entries()) {
    if (index > 0 && !isDeepStrictEqual(rule.http?.paths, rules[0]!.http?.paths)) return { reason: 'the rules do not all have the same paths' };
    if (rule.http === undefined && (rule.host === undefined || rule.host === '')) return { reason: `spec.rules[${index}] has neither host nor paths` };
    if (rule.host !== undefined && rule.host !== '') hosts.push(rule.host);
    else if (rules.length > 1) return { reason: 'a rule without host beside rules with hosts' };
  }
  if (new Set(hosts).size !== hosts.length) return { reason: 'the same host in two rules' };
  if (rules[0]?.http !== undefined) {
    const converted: Route['paths'] = [];
    for (const path of rules[0].http.paths) {
      const backend = friendlyBackend(path.backend);
      if (typeof backend === 'string') return { reason: backend };
      if (path.path === undefined) return { reason: 'a path without path' };
      converted.push({ path: path.path, pathType: path.pathType, backends: [backend] });
    }
    paths = converted;
  }
  const fallback = defaultBackend === undefined ? undefined : friendlyBackend(defaultBackend);
  if (typeof fallback === 'string') return { reason: `spec.defaultBackend is ${fallback}` };
  const entry = tls?.[0];
  if (entry !== undefined && entry.secretName === undefined) return { reason: 'a spec.tls entry without secretName' };
  return {
    route: {
      namespace: meta.namespace ?? 'default',
      name: meta.name,
      ...(ingressClassName !== undefined ? { ingressClassName } : {}),
      hosts,
      paths,
      ...(fallback !== undefined ? { defaultBackend: fallback } : {}),
      ...(entry !== undefined ? { tls: { secretName: entry.secretName!, ...(entry.hosts !== undefined ? { hosts: entry.hosts } : {}) } } : {}),
      ...(sslRedirect !== undefined ? { sslRedirect } : {}),
      ...(forceSslRedirect !== undefined ? { forceSslRedirect } : {}),
    },
  };
}

/** The API resource of a stored Ingress. */
export function routeResource(ingress: Ingress, etag: string): RouteResource {
  const view = ingressToRoute(ingress);
  return {
    namespace: ingress.metadata.namespace ?? 'default',
    name: ingress.metadata.name,
    etag,
    route: 'route' in view ? view.route : null,
    ...('reason' in view ? { unrepresentable: view.reason } : {}),
    ingress,
  };
}

/** Parses a friendly route body (zod errors become 422 with pointers into the body). */
export function parseRoute(body: unknown): Route {
  const parsed = Route.safeParse(body);
  if (!parsed.success) throw invalid('the route is invalid', parsed.error.issues);
  return parsed.data;
}
