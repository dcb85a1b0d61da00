/**
 * `mirror-target`, `mirror-request-body` and `mirror-host`, as ingress-nginx does them: each
 * request the Ingress's rules forward is also copied to the URL `mirror-target`, fire-and-forget
 * (its answer is read and dropped; nothing about it reaches the client or delays its answer).
 *
 * What ingress-nginx does (read in its source, controller v1.15 line): `internal/ingress/
 * annotations/mirror/main.go` reads the three annotations (mirror-request-body `on`/`off`, default
 * `on`; mirror-host defaults to the hostname of the part of mirror-target before its first `$`);
 * `internal/ingress/controller/template/template.go` `buildMirrorLocations` writes, per Ingress,
 * `location = /_mirror-<uid> { internal; proxy_set_header Host <mirror-host>; proxy_pass
 * <mirror-target>; }` and `nginx.tmpl` puts `mirror /_mirror-<uid>; mirror_request_body <on|off>;`
 * into every location of the Ingress (nginx's ngx_http_mirror_module: a background subrequest in
 * the precontent phase, after access checks; its response ignored). So, by nginx's proxy_pass
 * rules: a target with variables sends exactly the filled-in text after the host
 * (`https://m.example$request_uri` -> the client's request URI; `https://m.example/$request_uri`
 * -> `//path`, ingress-nginx issue #11432); a target with a path and no variable sends that path
 * plus `?<query>` when the request has one; a target without a path would send the internal
 * location's name `/_mirror-<uid>` (Portico refuses that value instead). The copy carries the
 * client's method and header fields, Host set to mirror-host (`test/e2e/annotations/mirror.go`
 * checks the generated directives).
 *
 * Differences (docs/annotations.md): a bad value is an InvalidAnnotation Warning and the
 * Ingress is served without mirroring (ingress-nginx logs a warning and, for an invalid target,
 * still mirrors to `/_mirror-<uid>` of the Ingress's own server); only the variables Portico can
 * fill in are accepted; a host `<svc>.<ns>.svc[.cluster.local]` names a Service whose endpoints
 * come from the model (as auth-url's), any other host is resolved by DNS; every address goes
 * through the endpoint address policy. This module is pure: the data plane sends the copies
 * (dataplane/src/mirror.ts).
 */
import type { AuthService } from './auth-url.ts';
import { SERVICE_HOST, parseHostPort, unknownVariable } from './auth-url.ts';
import { fillVariables } from './external-auth.ts';
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts, RouteFacts } from './module.ts';

/** A route's mirror target, as the snapshot carries it. */
export interface MirrorTargetData {
  /** mirror-target as written. */
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** Host name (lower case) or IP address (IPv6 without brackets). */
  readonly host: string;
  readonly port: number;
  /** What follows the host: a path, or text starting with `$request_uri`; may hold VARIABLES. */
  readonly path: string;
  /** No variable in the target: the request's query is appended (`?<query>`), as nginx's proxy_pass does. */
  readonly appendQuery: boolean;
  /** The copy's Host header: mirror-host, else the target's host without port. */
  readonly hostHeader: string;
  /** mirror-request-body: the copy carries the request body (default true). */
  readonly requestBody: boolean;
  /** The Service the host names (`<svc>.<ns>.svc[.cluster.local]`), or null for any other host (resolved by DNS). */
  readonly service: AuthService | null;
  /** That Service port's endpoint set key once the build resolved it; null when unresolved or no Service. */
  readonly endpointSet: string | null;
}

/** What the data plane needs to send one request's copy. */
export interface MirrorCopyRequest {
  readonly data: MirrorTargetData;
  /** The copy's request-target. */
  readonly target: string;
  /** The matcher route id of the Service's endpoints (a hidden route); undefined for a host resolved by DNS. */
  readonly route: number | undefined;
}

/** Visible ASCII without space, at most 2048: what a URL annotation may hold (no CR, LF or other controls). */
const URL_TEXT = /^[\x21-\x7e]{1,2048}$/;
/** `host[:port]` for mirror-host: a DNS name or IPv4 address, or an IPv6 address in brackets. */
const HOST_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Parses mirror-target; returns the target (without the host header and body choice) or why it is unusable. */
export function parseMirrorTarget(value: string): Omit<MirrorTargetData, 'hostHeader' | 'requestBody' | 'endpointSet'> | string {
  if (!URL_TEXT.test(value)) return 'must be an absolute http(s) URL of at most 2048 visible ASCII characters (no spaces or control characters)';
  // The authority ends at the first `/`, `?`, `#` or `$` (ingress-nginx takes the host from the part before the first `$`).
  const match = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#$]*)(.*)$/.exec(value);
  if (match === null) return 'must be an absolute URL (scheme://host[:port]/path)';
  const scheme = match[1]!.toLowerCase();
  if (scheme !== 'http' && scheme !== 'https') return `has the scheme ${JSON.stringify(match[1])}; nginx's proxy_pass (and Portico) mirror only to http and https`;
  const authority = match[2]!;
  const rest = match[3]!;
  if (authority.includes('@')) return 'must not carry credentials in the URL';
  const hostPort = parseHostPort(authority, scheme);
  if (typeof hostPort === 'string') return hostPort;
  const { host, port } = hostPort;
  if (rest.includes('#')) return 'must not have a fragment';
  if (rest === '') return 'has no path: ingress-nginx would send every copy to its internal location /_mirror-<uid>; write $request_uri after the host to mirror the request URI (https://mirror.example$request_uri), or a path';
  const variables = rest.includes('$');
  const problem = unknownVariable(rest);
  if (problem !== undefined) return problem;
  if (!rest.startsWith('/') && !rest.startsWith('$request_uri')) return 'must continue after the host with a path (/...) or $request_uri';
  const service = SERVICE_HOST.exec(host);
  return {
    url: value,
    scheme,
    host,
    port,
    path: rest,
    appendQuery: !variables,
    service: service === null ? null : { name: service[1]!, namespace: service[2]!, port },
  };
}

/** The copy's request-target for a request (nginx's proxy_pass URI in the mirror location). */
export function mirrorRequestTarget(data: MirrorTargetData, facts: RequestFacts): string {
  if (!data.appendQuery) return fillVariables(data.path, facts);
  const query = facts.target.indexOf('?');
  // nginx appends `?$args` when the request has a non-empty query.
  return query < 0 || query === facts.target.length - 1 ? data.path : data.path + facts.target.slice(query);
}

/** The copy's Host: the target's host without port, IPv6 in brackets (ingress-nginx: url.Hostname()). */
function defaultHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

function readMirror(reader: AnnotationReader): MirrorTargetData | undefined {
  const raw = reader.string('mirror-target');
  const bodyValue = reader.string('mirror-request-body')?.replaceAll(' ', '');
  const hostValue = reader.string('mirror-host');
  if (raw === undefined) {
    for (const name of ['mirror-request-body', 'mirror-host']) if (reader.raw(name) !== undefined) reader.warn(name, 'has no effect without mirror-target');
    return undefined;
  }
  const target = parseMirrorTarget(raw);
  if (typeof target === 'string') {
    reader.warn('mirror-target', `${JSON.stringify(raw)} ${target}; requests are not mirrored`);
    return undefined;
  }
  let requestBody = true;
  if (bodyValue !== undefined && bodyValue !== 'on') {
    if (bodyValue === 'off') requestBody = false;
    else reader.warn('mirror-request-body', `expected "on" or "off", got ${JSON.stringify(reader.raw('mirror-request-body'))}; using on (the body is mirrored), as ingress-nginx does`);
  }
  let hostHeader = defaultHost(target.host);
  if (hostValue !== undefined) {
    if (hostValue.length <= 259 && HOST_VALUE.test(hostValue)) hostHeader = hostValue;
    else reader.warn('mirror-host', `${JSON.stringify(hostValue)} is not a host name or address with an optional port (nginx variables are not supported); the copies carry Host: ${hostHeader}`);
  }
  return { ...target, hostHeader, requestBody, endpointSet: null };
}

/** The hidden route the Service of a mirror target needs (its endpoints), or none. */
export function mirrorTargetBackend(data: MirrorTargetData | undefined): { namespace: string; service: string; port: number; endpointSet: string } | undefined {
  if (data?.service == null || data.endpointSet === null) return undefined;
  return { namespace: data.service.namespace, service: data.service.name, port: data.service.port, endpointSet: data.endpointSet };
}

/** The mirror-* module. */
export const mirrorTargetModule: PolicyModule<MirrorTargetData> = {
  key: 'mirrorTarget',
  phase: 'request',
  annotations: [
    {
      name: 'mirror-target',
      support: 'approximated',
      note: 'each forwarded request is also copied, fire-and-forget, to the URL (http/https; $request_uri and the auth-url variables filled in; without a variable the path plus ?<query>); its answer is dropped and never delays the client. A host <svc>.<ns>.svc[.cluster.local] goes to that Service port\'s endpoints; any other name by DNS; never to loopback/link-local unless allowed. Bounded: 256 copies in flight, 1 MiB of body, 10 s. A bad URL, a URL without path or an unknown variable: Warning, not mirrored',
    },
    { name: 'mirror-request-body', support: 'honoured', note: '"off": the copy goes without the body (Content-Length: 0 when the request had one); default "on": the whole body (up to 1 MiB; a larger one is not mirrored, as ingress-nginx\'s 1m client_max_body_size refuses it)' },
    { name: 'mirror-host', support: 'honoured', note: 'the Host header of the copies (default the target\'s host without port); a value that is not host[:port] is a Warning and the default applies' },
  ],
  schema: (z) =>
    z.strictObject({
      url: z.string().regex(URL_TEXT),
      scheme: z.enum(['http', 'https']),
      host: z.string().min(1).max(253),
      port: z.number().int().min(1).max(65535),
      path: z.string().regex(/^(?:\/|\$request_uri)[\x21-\x7e]*$/).max(2048),
      appendQuery: z.boolean(),
      hostHeader: z.string().max(259).regex(HOST_VALUE),
      requestBody: z.boolean(),
      service: z.strictObject({ namespace: z.string().min(1), name: z.string().min(1), port: z.number().int().min(1).max(65535) }).nullable(),
      endpointSet: z.string().nullable(),
    }),
  read: readMirror,
  prepare(data, route: RouteFacts) {
    // The Service's hidden route is the last of the route's mirror routes (after any RequestMirror's).
    const hidden = mirrorTargetBackend(data) === undefined ? undefined : route.mirrors?.[route.mirrors.length - 1];
    return (facts: RequestFacts, outcome: PolicyOutcome) => {
      outcome.mirrorTarget = { data, target: mirrorRequestTarget(data, facts), route: hidden };
    };
  },
  describe: (data) =>
    `mirrored (mirror-target, fire-and-forget) to ${data.url} with Host: ${data.hostHeader}, ${data.requestBody ? 'with' : 'without'} the body${data.service === null ? ' (host resolved by DNS)' : ` (Service ${data.service.namespace}/${data.service.name}:${data.service.port}${data.endpointSet === null ? ', not found: nothing is sent' : ''})`}`,
};
