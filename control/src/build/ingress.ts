/**
 * One Ingress -> candidate routes, default backends and TLS claims, each validated on its own so
 * that one bad path never takes the rest of the Ingress (or any other Ingress) down.
 */
import type { Condition } from '../model/conditions.ts';
import type { Backend, PathType, SourceRef } from '../model/types.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { compareStrings, objectKey } from '../state/cluster-state.ts';
import type { Ingress } from '../state/objects.ts';
import type { IngressAnnotations } from './annotations.ts';
import { NGINX_PREFIX, readAnnotations } from './annotations.ts';
import type { EndpointSets } from './backends.ts';
import { resolveBackend } from './backends.ts';
import { resolveAuthService } from './external-auth.ts';
import { resolveMirrorService } from './mirror-target.ts';
import { resolveDefaultBackend, withRuleService } from './default-backend.ts';
import { secretValue } from './tls.ts';
import { backendProtocol, readUpstreamPolicy } from './upstream.ts';
import { hostProblem, pathProblem } from './validate.ts';

/** Orders claims on the same host/path: the oldest object wins, then namespace/name, then position. */
export interface ClaimOrder {
  readonly created: string;
  readonly namespace: string;
  readonly name: string;
  readonly position: number;
}

/** Oldest first, then namespace/name, then position inside the object. */
export function compareClaims(a: ClaimOrder, b: ClaimOrder): number {
  // An object without a creationTimestamp sorts after every dated one.
  if (a.created !== b.created) {
    if (a.created === '') return 1;
    if (b.created === '') return -1;
    return compareStrings(a.created, b.created);
  }
  return compareStrings(a.namespace, b.namespace) || compareStrings(a.name, b.name) || a.position - b.position;
}

/** A path rule an Ingress claims on a host, before conflicts are settled. */
export interface RouteClaim {
  readonly host: string;
  readonly source: SourceRef;
  readonly field: string;
  readonly pathType: PathType;
  readonly path: string;
  readonly backends: readonly Backend[];
  readonly annotations: IngressAnnotations;
  readonly order: ClaimOrder;
}

/** A default backend an Ingress claims, for its hosts or (host `undefined`) for everything. */
export interface DefaultClaim {
  readonly host: string | undefined;
  readonly source: SourceRef;
  readonly field: string;
  readonly backends: readonly Backend[];
  readonly annotations: IngressAnnotations;
  readonly order: ClaimOrder;
}

/** A TLS declaration for a host. */
export interface TlsClaim {
  readonly host: string;
  /** Secret key when the certificate is usable. */
  readonly certificate: string | undefined;
  readonly order: ClaimOrder;
}

/** Everything one Ingress contributes. */
export interface IngressContribution {
  readonly routes: RouteClaim[];
  readonly defaults: DefaultClaim[];
  readonly tls: TlsClaim[];
  readonly conditions: Condition[];
}

/** Callback that registers a TLS Secret for hosts; returns the Secret key when usable. */
export type UseCertificate = (namespace: string, name: string, hosts: readonly string[], source: SourceRef, field: string, conditions: Condition[]) => string | undefined;

/** Shared `spec.rules[r].http.paths[p]` strings by rule, then path (the first PATH_FIELD_PLACES of each). */
const PATH_FIELDS: string[][] = [];
const PATH_FIELD_PLACES = 64;

/**
 * `spec.rules[rule].http.paths[path]`: one string per place, shared by every Ingress (and by the
 * claim, model route and snapshot route made from the path) instead of one built per path per
 * build; places past the first 64 rules or paths are built each time, so the table stays small.
 */
export function pathField(rule: number, path: number): string {
  if (rule >= PATH_FIELD_PLACES || path >= PATH_FIELD_PLACES) return `spec.rules[${rule}].http.paths[${path}]`;
  const row = (PATH_FIELDS[rule] ??= []);
  return (row[path] ??= `spec.rules[${rule}].http.paths[${path}]`);
}

/** Distinct backend lists one Ingress shares among its paths (past these, each path gets its own list). */
const SHARED_LISTS = 16;

/** Whether two plain values have the same keys in the same order and the same values (key order and undefined members count). */
function sameMembers(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((key, i) => key === kb[i] && sameMembers((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key]));
}

/** Reads one Ingress Portico serves. */
export function readIngress(ingress: Ingress, state: ClusterState, sets: EndpointSets, useCertificate: UseCertificate): IngressContribution {
  const namespace = ingress.metadata.namespace ?? 'default';
  const source: SourceRef = { kind: 'Ingress', namespace, name: ingress.metadata.name };
  const created = ingress.metadata.creationTimestamp ?? '';
  const conditions: Condition[] = [];
  const read = readAnnotations(ingress.metadata.annotations, source, conditions, (secretNamespace, name, key = 'auth') => {
    const secret = state.secrets.get(objectKey(secretNamespace, name));
    return secret === undefined ? undefined : secretValue(secret, key);
  }, (configMapNamespace, name) => {
    const configMap = state.configMaps.get(objectKey(configMapNamespace, name));
    return configMap === undefined ? undefined : (configMap.data ?? {});
  });
  const annotations: IngressAnnotations = { ...read, policies: resolveDefaultBackend(resolveMirrorService(resolveAuthService(read.policies, source, state, sets, conditions), source, state, sets, conditions), source, state, sets, conditions) };
  const upstream = readUpstreamPolicy(ingress.metadata.annotations, namespace, state, source, conditions);
  const routes: RouteClaim[] = [];
  const defaults: DefaultClaim[] = [];
  const tls: TlsClaim[] = [];
  let position = 0;
  const order = (): ClaimOrder => ({ created, namespace, name: ingress.metadata.name, position: position++ });
  // A backend whose protocol Portico cannot speak refuses its route (503 with the reason).
  const resolve = (field: string, backend: Parameters<typeof resolveBackend>[0]): { backend: Backend; annotations: IngressAnnotations } => {
    const resolved = resolveBackend(backend, namespace, source, field, state, sets, upstream.serviceUpstream);
    conditions.push(...resolved.conditions);
    // default-backend tells its Service which rule's request it answers (X-Service-Name, X-Service-Port).
    const ruled = annotations.policies?.defaultBackend === undefined ? annotations : { ...annotations, policies: withRuleService(annotations.policies, resolved.backend) };
    if (resolved.servicePort === undefined) return { backend: resolved.backend, annotations: ruled };
    const service = { namespace, name: resolved.backend.service };
    const protocol = backendProtocol(upstream, resolved.servicePort.appProtocol, service, resolved.servicePort.label, source, `${field}.service`, conditions);
    const refused = ruled.refused ?? protocol.refused;
    const spoken = protocol.tls === undefined && protocol.protocol === undefined ? resolved.backend : { ...resolved.backend, ...(protocol.tls === undefined ? {} : { tls: protocol.tls }), ...(protocol.protocol === undefined ? {} : { protocol: protocol.protocol }) };
    return { backend: spoken, annotations: refused === ruled.refused ? ruled : { ...ruled, refused } };
  };

  // Paths of one Ingress mostly name the same Service port: those share one backend list (kept by claim, model route and snapshot).
  const lists: (readonly Backend[])[] = [];
  const listOf = (backend: Backend): readonly Backend[] => {
    for (const list of lists) if (sameMembers(list[0], backend)) return list;
    const list = [backend];
    // Bounded: an Ingress naming thousands of distinct backends is not searched through for each path.
    if (lists.length < SHARED_LISTS) lists.push(list);
    return list;
  };

  const hosts = new Set<string>();
  let hasHostlessRule = false;
  (ingress.spec.rules ?? []).forEach((rule, ruleIndex) => {
    const ruleField = `spec.rules[${ruleIndex}]`;
    const host = rule.host === undefined || rule.host === '' ? '*' : rule.host.toLowerCase();
    if (host !== '*') {
      const problem = hostProblem(host);
      if (problem !== undefined) {
        conditions.push({ source, field: `${ruleField}.host`, reason: 'InvalidHost', severity: 'Error', message: `host ${JSON.stringify(rule.host)} ${problem}; rule skipped` });
        return;
      }
      hosts.add(host);
    } else {
      hasHostlessRule = true;
    }
    (rule.http?.paths ?? []).forEach((path, pathIndex) => {
      const field = pathField(ruleIndex, pathIndex);
      const value = path.path ?? (path.pathType === 'ImplementationSpecific' ? '/' : undefined);
      const problem = value === undefined ? `path is required for pathType ${path.pathType}` : pathProblem(value, annotations.regexPaths);
      if (problem !== undefined || value === undefined) {
        conditions.push({ source, field: `${field}.path`, reason: 'InvalidPath', severity: 'Error', message: `${JSON.stringify(path.path ?? '')} (${path.pathType}): ${problem}; path skipped` });
        return;
      }
      const { backend, annotations: effective } = resolve(`${field}.backend`, path.backend);
      routes.push({ host, source, field, pathType: path.pathType, path: value, backends: listOf(backend), annotations: effective, order: order() });
    });
  });

  if (annotations.policies?.sslPassthrough === true) {
    // ingress-nginx passes a host's TLS through only from its root location and by exact SNI: say where that leaves nothing to pass.
    const rooted = new Set(routes.filter((route) => route.path === '/' && (route.pathType === 'Prefix' || route.pathType === 'ImplementationSpecific')).map((route) => route.host));
    const idle = [...hosts].filter((host) => host.startsWith('*.') || !rooted.has(host));
    if (hasHostlessRule) idle.push('(no host)');
    if (idle.length > 0) conditions.push({ source, field: `metadata.annotations['${NGINX_PREFIX}ssl-passthrough']`, reason: 'InvalidAnnotation', severity: 'Warning', message: `TLS is passed through only for a named host with a "/" path (Prefix or ImplementationSpecific) of this Ingress, compared exactly with the SNI name; not for ${idle.join(', ')}, whose TLS Portico terminates` });
  }

  const defaultBackend = ingress.spec.defaultBackend;
  if (defaultBackend !== undefined) {
    const { backend, annotations: effective } = resolve('spec.defaultBackend', defaultBackend);
    // With host rules, the default backend catches the rest of those hosts; without, it catches everything.
    const targets: (string | undefined)[] = hosts.size > 0 ? [...hosts] : [undefined];
    if (hosts.size > 0 && hasHostlessRule) targets.push(undefined);
    for (const host of targets) defaults.push({ host, source, field: 'spec.defaultBackend', backends: [backend], annotations: effective, order: order() });
  } else if ((ingress.spec.rules ?? []).length === 0) {
    conditions.push({ source, field: 'spec', reason: 'NoRules', severity: 'Error', message: 'an Ingress needs spec.rules or spec.defaultBackend; nothing to serve' });
  }

  (ingress.spec.tls ?? []).forEach((entry, tlsIndex) => {
    const field = `spec.tls[${tlsIndex}]`;
    // Like ingress-nginx: a TLS entry without hosts covers every host of the Ingress.
    const tlsHosts = (entry.hosts ?? []).length > 0 ? (entry.hosts ?? []).map((h) => h.toLowerCase()) : [...hosts];
    const valid = tlsHosts.filter((host, hostIndex) => {
      const problem = hostProblem(host);
      if (problem !== undefined) conditions.push({ source, field: `${field}.hosts[${hostIndex}]`, reason: 'InvalidHost', severity: 'Error', message: `TLS host ${JSON.stringify(host)} ${problem}; ignored` });
      return problem === undefined;
    });
    const certificate = entry.secretName ? useCertificate(namespace, entry.secretName, valid, source, `${field}.secretName`, conditions) : undefined;
    for (const host of valid) tls.push({ host, certificate, order: order() });
  });

  return { routes, defaults, tls, conditions };
}
