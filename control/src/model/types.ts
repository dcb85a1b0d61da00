/**
 * The routing model: what Portico will do, with every Kubernetes detail resolved away.
 *
 * Plain readonly data. The build stage produces it from ClusterState; the compile stage turns it
 * into a Snapshot. Nothing here imports Kubernetes types (DESIGN rule 1).
 */
import type { RoutePolicies } from '../snapshot/policies/registry.ts';

/** The object a piece of routing came from, for explanations and conditions. */
export interface SourceRef {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/**
 * How a path rule compares with the request path, as the user wrote it. `RegularExpression`
 * (Gateway API): the path is an RE2 pattern the whole request path (query excluded) must match.
 */
export type PathType = 'Exact' | 'Prefix' | 'ImplementationSpecific' | 'RegularExpression';

/** A header or query-parameter condition (Gateway API HTTPHeaderMatch / HTTPQueryParamMatch). */
export interface ValueMatch {
  /** Header names compare case-insensitively, query parameter names case-sensitively. */
  readonly name: string;
  /** The value, or for RegularExpression an RE2 pattern the whole value must match. */
  readonly value: string;
  readonly type: 'Exact' | 'RegularExpression';
}

/** Request conditions beyond host and path, all of which must hold (one Gateway API HTTPRouteMatch). */
export interface RouteMatch {
  /** Upper-case methods, one of which the request must use; absent means any. */
  readonly methods?: readonly string[] | undefined;
  readonly headers?: readonly ValueMatch[] | undefined;
  readonly query?: readonly ValueMatch[] | undefined;
}

/** A reference to a Service port and the endpoints behind it. */
export interface Backend {
  readonly namespace: string;
  readonly service: string;
  /** The port as the Ingress names it: a number or a port name. */
  readonly port: number | string;
  /** Non-negative integer share of traffic among the route's backends. */
  readonly weight: number;
  /** Key into `RoutingModel.endpointSets`, or undefined when the backend could not be resolved (serves 503). */
  readonly endpointSet: string | undefined;
  /** TLS to the endpoints (backend protocol HTTPS, GRPCS); undefined for plain text. */
  readonly tls?: UpstreamTls | undefined;
  /** HTTP/2 to the endpoints (see `UpstreamProtocol`); undefined for HTTP/1.1. Over TLS when `tls` is set, else h2c. */
  readonly protocol?: UpstreamProtocol | undefined;
  /**
   * The reference is invalid (Gateway API: a Service that does not exist, a kind Portico does not
   * know, a cross-namespace reference no ReferenceGrant allows): requests its weight share would
   * get are answered 500, as the spec says. Undefined for every valid backend and for Ingress ones.
   */
  readonly invalid?: true | undefined;
}

/**
 * What the data plane speaks to a backend's endpoints when not HTTP/1.1: `h2` is HTTP/2 for any
 * request (ingress-nginx `backend-protocol: H2C`, `appProtocol: kubernetes.io/h2c`); `grpc` is
 * gRPC over HTTP/2 (`backend-protocol: GRPC|GRPCS`, `appProtocol: grpc`, a GRPCRoute backend):
 * the same transport, and Portico's own failures on such a route answer as gRPC statuses.
 */
export type UpstreamProtocol = 'h2' | 'grpc';

/**
 * How the data plane speaks TLS to a backend's endpoints (ingress-nginx `backend-protocol: HTTPS`
 * or Service port `appProtocol: https`, with the `proxy-ssl-*` annotations).
 */
export interface UpstreamTls {
  /** SNI sent in the ClientHello, or undefined to send none (`proxy-ssl-server-name` off). */
  readonly serverName: string | undefined;
  /** Whether the endpoint's certificate chain and name are verified (`proxy-ssl-verify`). */
  readonly verify: boolean;
  /** The name the certificate must carry when verified (`proxy-ssl-name`, else `<service>.<namespace>.svc`). */
  readonly verifyName: string;
  /** Longest accepted chain below the endpoint's certificate (`proxy-ssl-verify-depth`, default 1). */
  readonly verifyDepth: number;
  /** `namespace/name` of the `proxy-ssl-secret`, or undefined. */
  readonly secret: string | undefined;
  /** Trusted CAs (the Secret's `ca.crt`); undefined means Node's bundled public roots. */
  readonly caPem: string | undefined;
  /** Client certificate presented to the endpoint (the Secret's `tls.crt`), with `privateKeyPem`. */
  readonly certificatePem: string | undefined;
  readonly privateKeyPem: string | undefined;
}

/** Redirect behaviour for plain-HTTP requests (ingress-nginx `ssl-redirect` / `force-ssl-redirect`). */
export interface RedirectPolicy {
  /** Redirect plain HTTP to HTTPS with 308 because the host has TLS (unless `ssl-redirect: "false"`). */
  readonly sslRedirect: boolean;
  /** Redirect plain HTTP to HTTPS even without TLS (`force-ssl-redirect: "true"`). */
  readonly forceSslRedirect: boolean;
}

/** One path rule of one virtual host. */
export interface Route {
  readonly source: SourceRef;
  /** Where in the source object the rule is, e.g. `spec.rules[0].http.paths[1]`. */
  readonly field: string;
  readonly pathType: PathType;
  readonly path: string;
  readonly backends: readonly Backend[];
  readonly redirect: RedirectPolicy;
  /** The source object's creationTimestamp (ISO 8601, '' when unknown); decides conflicts. */
  readonly created: string;
  /** Why the rule must not be served (it answers 503), or undefined when it may be. */
  readonly refused?: string | undefined;
  /** Annotation policies for its requests, or undefined when none. */
  readonly policies?: RoutePolicies | undefined;
  /** The path is a case-insensitive regular expression (its host has regex paths, ingress-nginx `~*`). */
  readonly regex?: boolean | undefined;
  /** Conditions beyond host and path (Gateway API matches), or undefined for none (every Ingress rule). */
  readonly match?: RouteMatch | undefined;
}

/** A default backend (Ingress `spec.defaultBackend`), for a host or for everything. */
export interface DefaultRoute {
  readonly source: SourceRef;
  readonly field: string;
  readonly backends: readonly Backend[];
  readonly redirect: RedirectPolicy;
  readonly created: string;
  /** Why the default backend must not be served (it answers 503), or undefined when it may be. */
  readonly refused?: string | undefined;
  /** Annotation policies for its requests, or undefined when none. */
  readonly policies?: RoutePolicies | undefined;
}

/** A TLS certificate usable for some hosts. */
export interface Certificate {
  /** `namespace/name` of the Secret. */
  readonly secret: string;
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** Hosts (exact or `*.` wildcard) this certificate is served for, lower-case. */
  readonly hosts: readonly string[];
}

/** One host name (exact, `*.wildcard`, or `*` for any host) and its rules. */
export interface VirtualHost {
  readonly host: string;
  readonly routes: readonly Route[];
  /** Catches requests to this host that match no route. */
  readonly defaultRoute: DefaultRoute | undefined;
  /** `namespace/name` of the certificate for this host, when its Ingress declares TLS and the Secret is valid. */
  readonly certificate: string | undefined;
  /** True when an Ingress lists this host under `spec.tls` (even if its Secret is missing). */
  readonly tls: boolean;
}

/** One network endpoint of a Service port. */
export interface Endpoint {
  readonly address: string;
  readonly port: number;
  /** Serving but terminating: used only when a set has nothing else. */
  readonly terminating: boolean;
}

/** The endpoints of one Service port. */
export interface EndpointSet {
  /** `namespace/service:port` with the port as the Ingress names it. */
  readonly key: string;
  readonly endpoints: readonly Endpoint[];
  /** Where the endpoints come from, so they can be refreshed without rebuilding routes. */
  readonly origin: { readonly namespace: string; readonly service: string; readonly servicePort: number | string; readonly clusterIP?: true };
}

/** The whole model. */
export interface RoutingModel {
  readonly virtualHosts: readonly VirtualHost[];
  /** Catches requests that no virtual host handles (an Ingress with only a default backend). */
  readonly defaultRoute: DefaultRoute | undefined;
  readonly endpointSets: readonly EndpointSet[];
  readonly certificates: readonly Certificate[];
}
