/**
 * Route write bodies: a friendly route or a plain `networking.k8s.io/v1` Ingress (legacy
 * v1beta1 Ingresses are converted, as manifest files are), validated before anything is stored.
 * Everything the build stage would turn into an Error condition for this one object (bad host,
 * bad path, non-Service backend, no rules) is a 422 here instead, with a JSON pointer per field.
 * Missing Services and Secrets are not: they may be created after the route.
 */
import { readAnnotations } from '../build/annotations.ts';
import { hostProblem, pathProblem } from '../build/validate.ts';
import type { Condition } from '../model/conditions.ts';
import { convertLegacyIngress, LEGACY_INGRESS_VERSIONS } from '../sources/manifests/legacy.ts';
import type { Ingress } from '../state/objects.ts';
import { Ingress as IngressSchema } from '../state/objects.ts';
import type { FieldError } from './problem.ts';
import { ApiError, invalid, pointerOfField } from './problem.ts';
import type { ParsedRoute } from './route-object.ts';
import { NamespaceName, ObjectName, parseRoute, routeToIngress } from './route-object.ts';

/** Server-owned metadata a client may send back (e.g. from a GET) but never sets. */
const SERVER_FIELDS = ['uid', 'resourceVersion', 'creationTimestamp', 'generation', 'managedFields', 'selfLink', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True when the body is an Ingress (has apiVersion or kind) rather than a friendly route. */
export function looksLikeIngress(body: unknown): boolean {
  return isRecord(body) && ('apiVersion' in body || 'kind' in body);
}

/** The resourceVersion a client sent inside an Ingress body (kubectl replace style), if any. */
export function bodyResourceVersion(body: unknown): string | undefined {
  if (!isRecord(body) || !isRecord(body.metadata)) return undefined;
  const version = body.metadata.resourceVersion;
  return typeof version === 'string' && version !== '' ? version : undefined;
}

/**
 * Parses and validates a write body. `target` is the namespace/name of the URL (PUT/PATCH); a
 * body naming another object is a 422. `namespace` (POST `?namespace=`) is the namespace a body
 * without one gets, and the only one it may name. Throws ApiError PORTICO_E_ROUTE_INVALID.
 */
export function parseRouteBody(body: unknown, target: { namespace: string; name: string } | undefined, namespace?: string): ParsedRoute {
  if (!isRecord(body)) throw new ApiError('PORTICO_E_ROUTE_INVALID', 'the body must be a JSON (or YAML) object: a route or an Ingress', { errors: [{ pointer: '', reason: 'expected an object' }] });
  const parsed: ParsedRoute = looksLikeIngress(body) ? { ingress: parseIngressBody(body, target, namespace), form: 'ingress' } : routeBody(body, target, namespace);
  const actual = parsed.ingress.metadata.namespace ?? 'default';
  if (namespace !== undefined && actual !== namespace) {
    const pointer = parsed.form === 'route' ? '/namespace' : '/metadata/namespace';
    throw new ApiError('PORTICO_E_ROUTE_INVALID', `the body names namespace ${JSON.stringify(actual)}, not ${JSON.stringify(namespace)} from ?namespace=`, { errors: [{ pointer, reason: `must be ${JSON.stringify(namespace)}, the namespace in the URL` }] });
  }
  return parsed;
}

function routeBody(body: Record<string, unknown>, target: { namespace: string; name: string } | undefined, fallbackNamespace: string | undefined): ParsedRoute {
  const route = parseRoute(body);
  const namespace = route.namespace ?? target?.namespace ?? fallbackNamespace ?? 'default';
  mustMatch(target, namespace, route.name, '/namespace', '/name');
  return { ingress: routeToIngress(route, namespace), form: 'route' };
}

function mustMatch(target: { namespace: string; name: string } | undefined, namespace: string, name: string, namespacePointer: string, namePointer: string): void {
  if (target === undefined) return;
  const errors: FieldError[] = [];
  if (namespace !== target.namespace) errors.push({ pointer: namespacePointer, reason: `must be ${JSON.stringify(target.namespace)}, the namespace in the URL` });
  if (name !== target.name) errors.push({ pointer: namePointer, reason: `must be ${JSON.stringify(target.name)}, the name in the URL` });
  if (errors.length > 0) throw new ApiError('PORTICO_E_ROUTE_INVALID', `the body names another object than the URL: ${errors[0]!.reason}`, { errors });
}

function parseIngressBody(body: Record<string, unknown>, target: { namespace: string; name: string } | undefined, fallbackNamespace: string | undefined): Ingress {
  let candidate: Record<string, unknown> = body;
  if (body.kind === 'Ingress' && typeof body.apiVersion === 'string' && LEGACY_INGRESS_VERSIONS.includes(body.apiVersion)) candidate = convertLegacyIngress(body);
  if (candidate.apiVersion !== 'networking.k8s.io/v1' || candidate.kind !== 'Ingress') {
    throw new ApiError('PORTICO_E_ROUTE_INVALID', 'only networking.k8s.io/v1 Ingress objects (or friendly routes) can be written here', {
      errors: [{ pointer: candidate.kind !== 'Ingress' ? '/kind' : '/apiVersion', reason: `expected apiVersion networking.k8s.io/v1 and kind Ingress, got ${String(candidate.apiVersion)} ${String(candidate.kind)}` }],
    });
  }
  const metadata = isRecord(candidate.metadata) ? { ...candidate.metadata } : candidate.metadata;
  if (isRecord(metadata)) for (const field of SERVER_FIELDS) delete metadata[field];
  const parsed = IngressSchema.safeParse({ ...candidate, metadata, status: undefined });
  if (!parsed.success) throw invalid('the Ingress is invalid', parsed.error.issues);
  const ingress = parsed.data;
  delete ingress.status;
  const errors: FieldError[] = [];
  const name = ObjectName.safeParse(ingress.metadata.name);
  if (!name.success) errors.push({ pointer: '/metadata/name', reason: name.error.issues[0]!.message });
  if (ingress.metadata.namespace === undefined) ingress.metadata.namespace = target?.namespace ?? fallbackNamespace ?? 'default';
  const namespace = NamespaceName.safeParse(ingress.metadata.namespace);
  if (!namespace.success) errors.push({ pointer: '/metadata/namespace', reason: namespace.error.issues[0]!.message });
  errors.push(...semanticErrors(ingress));
  if (errors.length > 0) throw new ApiError('PORTICO_E_ROUTE_INVALID', `Ingress ${ingress.metadata.namespace}/${ingress.metadata.name} is invalid: ${errors[0]!.reason}`, { errors });
  mustMatch(target, ingress.metadata.namespace, ingress.metadata.name, '/metadata/namespace', '/metadata/name');
  return ingress;
}

/** What the build stage would reject in this Ingress, as field errors. Pure. */
export function semanticErrors(ingress: Ingress): FieldError[] {
  const errors: FieldError[] = [];
  const backendErrors = (backend: NonNullable<Ingress['spec']['defaultBackend']>, pointer: string) => {
    if (backend.service === undefined) errors.push({ pointer, reason: 'only Service backends are served (resource backends are not)' });
    else if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(backend.service.name) || backend.service.name.length > 63) {
      errors.push({ pointer: `${pointer}/service/name`, reason: 'must be a Service name (RFC 1123 label)' });
    }
  };
  const rules = ingress.spec.rules ?? [];
  rules.forEach((rule, i) => {
    if (rule.host !== undefined && rule.host !== '') {
      const problem = hostProblem(rule.host);
      if (problem !== undefined) errors.push({ pointer: `/spec/rules/${i}/host`, reason: `host ${JSON.stringify(rule.host)} ${problem}` });
    }
    rule.http?.paths.forEach((path, j) => {
      const at = `/spec/rules/${i}/http/paths/${j}`;
      if (path.path === undefined) {
        if (path.pathType !== 'ImplementationSpecific') errors.push({ pointer: `${at}/path`, reason: `path is required for pathType ${path.pathType}` });
      } else {
        const problem = pathProblem(path.path);
        if (problem !== undefined) errors.push({ pointer: `${at}/path`, reason: `path ${JSON.stringify(path.path)} ${problem}` });
      }
      backendErrors(path.backend, `${at}/backend`);
    });
  });
  if (ingress.spec.defaultBackend !== undefined) backendErrors(ingress.spec.defaultBackend, '/spec/defaultBackend');
  else if (rules.length === 0) errors.push({ pointer: '/spec', reason: 'an Ingress needs spec.rules or spec.defaultBackend' });
  (ingress.spec.tls ?? []).forEach((entry, i) =>
    (entry.hosts ?? []).forEach((host, j) => {
      const problem = hostProblem(host.toLowerCase());
      if (problem !== undefined) errors.push({ pointer: `/spec/tls/${i}/hosts/${j}`, reason: `TLS host ${JSON.stringify(host)} ${problem}` });
    }),
  );
  const conditions: Condition[] = [];
  readAnnotations(ingress.metadata.annotations, { kind: 'Ingress', namespace: ingress.metadata.namespace ?? 'default', name: ingress.metadata.name }, conditions);
  for (const condition of conditions) errors.push({ pointer: pointerOfField(condition.field), reason: condition.message });
  if (ingress.metadata.annotations?.['nginx.ingress.kubernetes.io/canary'] === 'true') {
    errors.push({ pointer: '/metadata/annotations/nginx.ingress.kubernetes.io~1canary', reason: 'canary Ingresses are not served yet; Portico would treat this one as a plain Ingress' });
  }
  return errors;
}
