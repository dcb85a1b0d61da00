/**
 * The policy-module seam (DESIGN rule 8): an ingress-nginx annotation (or a small family of them)
 * is one module that owns its annotation names, reads and validates them into typed per-route
 * data, declares how faithfully Portico honours each one (for docs, `portico check` and
 * `explain`), and turns that data into a per-request step the data plane runs after matching and
 * before forwarding.
 *
 * This folder is part of the snapshot contract: the control plane parses with it and the data
 * plane applies with it, so it holds no I/O. It never loads zod itself: a module's `schema` is a
 * function of zod's namespace, called by policies/schema.ts (which the control plane imports), so a
 * data-plane worker that prepares and runs steps loads no schema library (docs/dataplane.md, "What
 * a worker loads"). Import zod here as a type only (`import type`); lint refuses anything else.
 */
import type { z, ZodType } from 'zod';
import type { ExternalAuthRequest } from './external-auth.ts';
import type { MirrorCopyRequest } from './mirror-target.ts';

/** zod's namespace, as a module's `schema` receives it. */
export type Zod = typeof z;

/** The annotation prefix ingress-nginx users already write. */
export const NGINX_PREFIX = 'nginx.ingress.kubernetes.io/';

/** The object a reading is about (the routing model's SourceRef, by shape). */
export interface PolicySource {
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** A finding about one annotation (a build-stage Condition, by shape). */
export interface PolicyCondition {
  readonly source: PolicySource;
  readonly field: string;
  readonly reason: 'InvalidAnnotation';
  readonly severity: 'Error' | 'Warning';
  readonly message: string;
}

/** How Portico treats one annotation a module owns. */
export interface AnnotationFact {
  /** The name without prefix, e.g. `rewrite-target`. */
  readonly name: string;
  /** `honoured`: as ingress-nginx does; `approximated`: honoured with the stated difference. */
  readonly support: 'honoured' | 'approximated';
  /** What Portico does (and, when approximated, how it differs). One line, for docs and `check`. */
  readonly note: string;
}

/** What a policy step may look at: facts about the request, computed once. */
export interface RequestFacts {
  readonly scheme: 'http' | 'https';
  /** The Host header as received (port included), '' when absent. */
  readonly host: string;
  /** The normalized path with the query, as matched. */
  readonly path: string;
  /** The request-target as received (nginx's `$request_uri`). */
  readonly target: string;
  /** The local port the request came in on (nginx's `$server_port`); undefined when unknown (explain): the scheme's default. */
  readonly port?: number | undefined;
  readonly method: string;
  /**
   * The client's address: the socket peer, or for a trusted proxy the client its X-Forwarded-For
   * chain names (nginx's realip `$remote_addr`).
   */
  readonly client: string;
  /**
   * The value of request header `name` (lower-case) when exactly one field line carries it;
   * undefined when none does, or several (an ambiguous Authorization or Origin counts as absent).
   */
  header(name: string): string | undefined;
  /** The client's TLS connection; undefined on plain HTTP and in explain (no handshake there). */
  readonly tls?: ClientTls | undefined;
}

/** The client's TLS connection, as a client-certificate step (auth-tls) sees it. One object per connection. */
export interface ClientTls {
  /** The SNI server name the client sent, lower-case; '' when it sent none. */
  readonly servername: string;
  /**
   * The certificates the client sent, its own first, as DER; empty when it sent none or the
   * handshake did not ask for one (its SNI names no host with auth-tls).
   */
  peerCertificates(): readonly Uint8Array[];
}

/** Portico's own answer instead of forwarding. Header values were validated when the policy was read. */
export interface LocalAnswer {
  readonly status: number;
  readonly headers: readonly (readonly [name: string, value: string])[];
  /** What a gRPC client gets instead of the status mapped from `status` (trailers-only answer); absent for the mapped one. */
  readonly grpc?: GrpcAnswer;
}

/** A gRPC status and message Portico answers a gRPC client with. */
export interface GrpcAnswer {
  readonly status: number;
  readonly message: string;
}

/** gRPC UNAVAILABLE for a request whose Gateway API backend is invalid (GRPCRoute: the spec's answer; HTTP clients get 500). */
export const INVALID_BACKEND_GRPC: GrpcAnswer = { status: 14, message: 'the backendRef of this route is invalid (Portico)' };

/**
 * nginx `proxy_next_upstream` as bits (NEXT_UPSTREAM in policies/next-upstream.ts), with
 * `proxy_next_upstream_tries` (0: no limit but the endpoints) and `_timeout` (ms, 0: none).
 */
export interface NextUpstreamPolicy {
  readonly when: number;
  readonly tries: number;
  readonly timeoutMs: number;
}

/** Per-route upstream settings; absent members keep the data plane's global behaviour. */
export interface UpstreamSettings {
  /** Largest request body in bytes; 0 means unlimited (ingress-nginx `0`). */
  readonly maxBodyBytes?: number | undefined;
  readonly connectTimeoutMs?: number | undefined;
  readonly readTimeoutMs?: number | undefined;
  readonly sendTimeoutMs?: number | undefined;
  /** The whole exchange, from the request's arrival to the end of the response (Gateway API timeouts). */
  readonly totalTimeoutMs?: number | undefined;
  /** Which failures retry on another endpoint (`proxy-next-upstream*`); undefined: the data plane's built-in policy. */
  readonly nextUpstream?: NextUpstreamPolicy | undefined;
}

/**
 * What the steps decided so far for one request. Steps write into it in pipeline order; a step
 * that sets `answer` ends the pipeline.
 */
export interface PolicyOutcome {
  answer: LocalAnswer | undefined;
  /** The request-target to forward instead of the normalized path (path and query). */
  target: string | undefined;
  /** Request header fields to set, replacing any received with the same name (nginx `proxy_set_header`). */
  readonly setHeaders: [name: string, value: string][];
  /** Request header fields to add beside any received with the same name (Gateway API `add`). */
  readonly addHeaders: [name: string, value: string][];
  /** Lower-case names of received request header fields to drop (Gateway API `remove`). */
  readonly removeHeaders: string[];
  /** Response header fields to set on the endpoint's response, replacing its own (nginx `more_set_headers`). */
  readonly responseHeaders: [name: string, value: string][];
  /** Response header fields to add beside the endpoint's own of the same name. */
  readonly responseAdd: [name: string, value: string][];
  /** Lower-case names of the endpoint's response header fields to drop. */
  readonly responseRemove: string[];
  /** Matcher route ids of the mirror backends this request is copied to (Gateway API RequestMirror). */
  readonly mirrors: number[];
  /** The copy this request's mirror-target asks for (ingress-nginx mirror-* annotations); the data plane sends it. */
  mirrorTarget: MirrorCopyRequest | undefined;
  /** Location/Refresh prefix rewrite of the endpoint's response (proxy-redirect-from/to), when the route has one. */
  redirectRewrite: { readonly from: string; readonly to: string } | undefined;
  /** Called once when the request is over (answered, forwarded and finished, or failed): gives back what a step took. */
  readonly done: (() => void)[];
  /** Per-route body limit and timeouts for the exchange, when the route sets any. */
  upstream: UpstreamSettings | undefined;
  /**
   * The route's backends the endpoint is picked among (bit k = backend k), when a `balance` step
   * chose for this request (a canary header or cookie); undefined: every backend, by weight.
   */
  backends: number | undefined;
  /** A subrequest that must allow the request before it is forwarded (auth-url); the data plane makes it. */
  externalAuth: ExternalAuthRequest | undefined;
  /**
   * A u32 hash of the request's balancing key (`upstream-hash-by`, a balanced session cookie):
   * the endpoint is chosen by consistent hashing of it; undefined: by round robin.
   */
  hash: number | undefined;
  /** With `hash`: pick one of this many best endpoints for the key at random (upstream-hash-by-subset); undefined: the best. */
  hashSubset: number | undefined;
  /** Pick the endpoint by the power of two choices over measured latency (`load-balance: ewma`) when no hash is set. */
  leastLoaded: boolean | undefined;
  /** A session cookie's endpoint token (`affinity-mode: persistent`): that endpoint when it still serves the route. */
  sticky: string | undefined;
  /** Called with the chosen endpoint's token when the endpoint was newly chosen (not by `sticky`): sets the session cookie. */
  picked: ((token: string) => void) | undefined;
}

/** One module's work on one request. */
export type PolicyStep = (facts: RequestFacts, outcome: PolicyOutcome) => void;

/** A step for requests sent to one backend of the route (its header changes only, over the outcome of the pipeline). */
export type BackendStep = (outcome: PolicyOutcome) => void;

/**
 * When a step runs, in ingress-nginx's phase order: `redirect` before the HTTPS redirect (nginx's
 * rewrite-phase `return`), `access` after it (nginx's access phase), `request` (what goes
 * upstream), then `balance` (which backend: nginx's balancer phase) only for a request that is
 * forwarded.
 */
export type PolicyPhase = 'redirect' | 'access' | 'request' | 'balance';

/** The decoded `key` (default `auth`) of Secret `namespace/name`, or undefined when the Secret or the key is missing. */
export type SecretAuthLookup = (namespace: string, name: string, key?: string) => string | undefined;

/** The `data` of ConfigMap `namespace/name`, or undefined when there is none. */
export type ConfigMapLookup = (namespace: string, name: string) => Readonly<Record<string, string>> | undefined;

/** Reads one Ingress's annotations for the modules, turning bad values into conditions. */
export class AnnotationReader {
  readonly #annotations: Readonly<Record<string, string>>;
  readonly #source: PolicySource;
  readonly #report: (condition: PolicyCondition) => void;
  readonly #secretAuth: SecretAuthLookup;
  readonly #configMap: ConfigMapLookup;
  /** Why the Ingress must not be served, one entry per refusing annotation. */
  readonly refusals: string[] = [];

  /** Reads `annotations` of `source`; every finding goes to `report`; `secretAuth` and `configMap` read objects of its namespace. */
  constructor(annotations: Readonly<Record<string, string>>, source: PolicySource, report: (condition: PolicyCondition) => void, secretAuth: SecretAuthLookup = () => undefined, configMap: ConfigMapLookup = () => undefined) {
    this.#annotations = annotations;
    this.#source = source;
    this.#report = report;
    this.#secretAuth = secretAuth;
    this.#configMap = configMap;
  }

  /** The namespace of the object read. */
  get namespace(): string {
    return this.#source.namespace;
  }

  /** The name of the object read. */
  get name(): string {
    return this.#source.name;
  }

  /** The `auth` key (decoded) of Secret `name` in the object's namespace, or undefined when there is none. */
  secretAuth(name: string): string | undefined {
    return this.#secretAuth(this.#source.namespace, name);
  }

  /** Key `key` (decoded) of Secret `name` in the object's namespace, or undefined when there is none. */
  secretKey(name: string, key: string): string | undefined {
    return this.#secretAuth(this.#source.namespace, name, key);
  }

  /** The `data` of ConfigMap `name` in the object's namespace, or undefined when there is none. */
  configMap(name: string): Readonly<Record<string, string>> | undefined {
    return this.#configMap(this.#source.namespace, name);
  }

  /**
   * The object name annotation `name` refers to as `name` or `namespace/name`, which must be the
   * Ingress's own namespace (ingress-nginx without allow-cross-namespace-resources). Undefined
   * when not set; 'refused' (with an Error condition) when it names another namespace.
   */
  localReference(name: string, kind: string): string | 'refused' | undefined {
    const reference = this.string(name);
    if (reference === undefined) return undefined;
    const slash = reference.indexOf('/');
    const namespace = slash < 0 ? this.namespace : reference.slice(0, slash);
    const object = slash < 0 ? reference : reference.slice(slash + 1);
    if (namespace !== this.namespace || object === '' || object.includes('/')) {
      this.refuse(name, `${kind} ${reference} is not in the Ingress's namespace; Portico reads ${kind}s from the Ingress's own namespace only`);
      return 'refused';
    }
    return object;
  }

  /** The raw value of `nginx.ingress.kubernetes.io/<name>`, or undefined when not set. */
  raw(name: string): string | undefined {
    return this.#annotations[NGINX_PREFIX + name];
  }

  /** The trimmed value, or undefined when not set or empty (ingress-nginx treats empty as missing). */
  string(name: string): string | undefined {
    const value = this.raw(name)?.trim();
    return value === undefined || value === '' ? undefined : value;
  }

  /** `true`/`false` (any case), else `fallback` with an InvalidAnnotation Warning. */
  boolean(name: string, fallback: boolean): boolean {
    const value = this.string(name)?.toLowerCase();
    if (value === undefined) return fallback;
    if (value === 'true') return true;
    if (value === 'false') return false;
    this.warn(name, `expected "true" or "false", got ${JSON.stringify(this.raw(name))}; using ${fallback}`);
    return fallback;
  }

  /** A decimal integer, undefined when not set, `fallback` with a Warning when unreadable. */
  integer(name: string, fallback: number | undefined): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (/^-?\d{1,9}$/.test(value)) return Number(value);
    this.warn(name, `expected an integer, got ${JSON.stringify(this.raw(name))}; ${fallback === undefined ? 'ignored' : `using ${fallback}`}`);
    return fallback;
  }

  /** Served, but not as written: an InvalidAnnotation Warning naming the annotation. */
  warn(name: string, message: string): void {
    this.#report({ source: this.#source, field: `metadata.annotations['${NGINX_PREFIX}${name}']`, reason: 'InvalidAnnotation', severity: 'Warning', message });
  }

  /** The Ingress cannot be served as written: an InvalidAnnotation Error, and its routes answer 503. */
  refuse(name: string, message: string): void {
    this.#report({ source: this.#source, field: `metadata.annotations['${NGINX_PREFIX}${name}']`, reason: 'InvalidAnnotation', severity: 'Error', message: `${message}; the Ingress's routes answer 503 until it is fixed` });
    this.refusals.push(`${NGINX_PREFIX}${name}: ${message}`);
  }
}

/** What a module knows about the route its step serves, at snapshot load. */
export interface RouteFacts {
  /** The rule's path as written (a regex on a regex host). */
  readonly path: string | undefined;
  /** Whether the route's host matches by regex (ingress-nginx's `~*` locations). */
  readonly regex: boolean;
  /** The matcher route ids of the route's RequestMirror backends, in the order of its mirrors; absent for none. */
  readonly mirrors?: readonly number[] | undefined;
  /** The matcher route id of its default backend (`default-backend`, a hidden route); absent for none. */
  readonly fallback?: number | undefined;
}

/**
 * Where a route's requests go when its own backends cannot answer them (`default-backend`,
 * `custom-http-errors`): prepared once per snapshot load, read by the router (no ready endpoint)
 * and the exchange (an intercepted status).
 */
export interface FallbackPlan {
  /** The matcher route id of the default backend (a hidden route: its endpoints, picked and health-checked as usual). */
  readonly route: number;
  /** Per status 0-599, 1 when an endpoint response with it goes to the default backend instead (custom-http-errors). */
  readonly intercepted: Uint8Array;
  /** Request fields every re-dispatch carries (X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port). */
  readonly fields: readonly (readonly [name: string, value: string])[];
}

/** One policy module. `T` is its per-route data in the snapshot (JSON). */
export interface PolicyModule<T> {
  /** Its member of a snapshot route's `policies`. */
  readonly key: string;
  readonly phase: PolicyPhase;
  /** The annotations it owns (without prefix), and how each is honoured; none for a Gateway API filter. */
  readonly annotations: readonly AnnotationFact[];
  /**
   * The snapshot form of its data, checked on load like everything else, built from zod's
   * namespace `z` (`schema: (z) => z.strictObject({...})`): only the control plane calls it.
   */
  readonly schema: (z: Zod) => ZodType<T>;
  /**
   * Reads its annotations of one Ingress; undefined when they ask for nothing. Absent for a
   * Gateway API filter module, whose data comes from an HTTPRoute rule (gateway-filters.ts).
   */
  read?(reader: AnnotationReader): T | undefined;
  /** Whether the data makes the host's paths regular expressions (`use-regex`, `rewrite-target`). */
  readonly regexPaths?: (data: T) => boolean;
  /** The request step for one route (compile what is costly here, once per snapshot load); undefined for none. */
  prepare(data: T, route: RouteFacts): PolicyStep | undefined;
  /** The route's fallback (default-backend), when the module gives one; undefined for none. */
  fallback?(data: T, route: RouteFacts): FallbackPlan | undefined;
  /**
   * Steps that run only when the endpoint was picked behind one backend of the route (by backend
   * index), after the pipeline (Gateway API backendRef filters); undefined for none.
   */
  backendSteps?(data: T): ReadonlyMap<number, BackendStep>;
  /** One line for `explain`: what it does to requests of the route. */
  describe(data: T): string;
}
