/**
 * The Kubernetes objects Portico reads, as zod schemas of exactly the fields it uses.
 *
 * Every source (manifest files, informers, REST writes) validates objects with these schemas at
 * its edge, so the build stage works on trusted, plain data. Unknown fields are kept but ignored
 * (`looseObject`), as the API server's own clients do.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';
import type { GatewayApiObject } from './gateway-objects.ts';

const name = z.string().min(1).max(253);

/** `metadata` as Portico uses it. */
export const ObjectMeta = z.looseObject({
  name,
  namespace: z.string().min(1).max(63).optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.number().int().optional(),
  creationTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

const portNumber = z.number().int().min(1).max(65535);

/** `networking.k8s.io/v1` IngressServiceBackend port: exactly one of number or name. */
const ServiceBackendPort = z
  .looseObject({ number: portNumber.optional(), name: z.string().min(1).optional() })
  .refine((p) => (p.number === undefined) !== (p.name === undefined), {
    message: 'exactly one of port.number or port.name must be set',
  });

/** An Ingress backend: a Service, or a typed resource reference (reported as unsupported). */
export const IngressBackend = z.looseObject({
  service: z.looseObject({ name, port: ServiceBackendPort }).optional(),
  resource: z.looseObject({ apiGroup: z.string().optional(), kind: z.string(), name }).optional(),
});
export type IngressBackend = z.infer<typeof IngressBackend>;

const HTTPIngressPath = z.looseObject({
  path: z.string().optional(),
  pathType: z.enum(['Exact', 'Prefix', 'ImplementationSpecific']),
  backend: IngressBackend,
});

const IngressRule = z.looseObject({
  host: z.string().optional(),
  http: z.looseObject({ paths: z.array(HTTPIngressPath).min(1) }).optional(),
});

const IngressTLS = z.looseObject({
  hosts: z.array(z.string()).optional(),
  secretName: z.string().optional(),
});

/** `networking.k8s.io/v1` Ingress. */
export const Ingress = z.looseObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('Ingress'),
  metadata: ObjectMeta,
  spec: z
    .looseObject({
      ingressClassName: z.string().optional(),
      defaultBackend: IngressBackend.optional(),
      tls: z.array(IngressTLS).optional(),
      rules: z.array(IngressRule).optional(),
    })
    .default({}),
  status: z.unknown().optional(),
});
export type Ingress = z.infer<typeof Ingress>;

/** `networking.k8s.io/v1` IngressClass. */
export const IngressClass = z.looseObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('IngressClass'),
  metadata: ObjectMeta,
  spec: z.looseObject({ controller: z.string().optional() }).default({}),
});
export type IngressClass = z.infer<typeof IngressClass>;

const ServicePort = z.looseObject({
  name: z.string().optional(),
  protocol: z.string().optional(),
  port: portNumber,
  targetPort: z.union([z.number().int(), z.string()]).optional(),
  appProtocol: z.string().optional(),
});
export type ServicePort = z.infer<typeof ServicePort>;

/** `v1` Service. */
export const Service = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Service'),
  metadata: ObjectMeta,
  spec: z
    .looseObject({
      type: z.string().optional(),
      ports: z.array(ServicePort).optional(),
      externalName: z.string().optional(),
      clusterIP: z.string().optional(),
      externalIPs: z.array(z.string()).optional(),
    })
    .default({}),
  status: z
    .looseObject({
      loadBalancer: z
        .looseObject({
          ingress: z.array(z.looseObject({ ip: z.string().optional(), hostname: z.string().optional() })).optional(),
        })
        .optional(),
    })
    .optional(),
});
export type Service = z.infer<typeof Service>;

const Endpoint = z.looseObject({
  addresses: z.array(z.string()).min(1),
  conditions: z
    .looseObject({
      ready: z.boolean().nullish(),
      serving: z.boolean().nullish(),
      terminating: z.boolean().nullish(),
    })
    .optional(),
  nodeName: z.string().optional(),
  zone: z.string().optional(),
});

const EndpointPort = z.looseObject({
  name: z.string().nullish(),
  port: portNumber.nullish(),
  protocol: z.string().nullish(),
});

/** A lower-case RFC 1123 DNS name (an FQDN endpoint address), compiled once for every address checked. */
const DNS_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What an address of each `addressType` must be, as the API server validates it: a proxy must never dial (or resolve) anything else. */
const ADDRESS_CHECKS: Record<'IPv4' | 'IPv6' | 'FQDN', { readonly valid: (address: string) => boolean; readonly what: string }> = {
  IPv4: { valid: isIPv4, what: 'an IPv4 address' },
  IPv6: { valid: isIPv6, what: 'an IPv6 address' },
  FQDN: { valid: (address) => address.length <= 253 && DNS_NAME.test(address), what: 'a lower-case RFC 1123 DNS name' },
};

/** `discovery.k8s.io/v1` EndpointSlice; every address is of its `addressType` (a manifest is not checked by an API server). */
export const EndpointSlice = z
  .looseObject({
    apiVersion: z.literal('discovery.k8s.io/v1'),
    kind: z.literal('EndpointSlice'),
    metadata: ObjectMeta,
    addressType: z.enum(['IPv4', 'IPv6', 'FQDN']),
    endpoints: z.array(Endpoint).nullish(),
    ports: z.array(EndpointPort).nullish(),
  })
  .superRefine((slice, context) => {
    const check = ADDRESS_CHECKS[slice.addressType];
    for (const [i, endpoint] of (slice.endpoints ?? []).entries()) {
      for (const [j, address] of endpoint.addresses.entries()) {
        if (!check.valid(address)) context.addIssue({ code: 'custom', path: ['endpoints', i, 'addresses', j], message: `${JSON.stringify(address.slice(0, 64))} is not ${check.what} (addressType ${slice.addressType})` });
      }
    }
  });
export type EndpointSlice = z.infer<typeof EndpointSlice>;

/** `v1` Secret; sources keep only what retainedSecret() returns. */
export const Secret = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Secret'),
  metadata: ObjectMeta,
  type: z.string().optional(),
  data: z.record(z.string(), z.string()).optional(),
  stringData: z.record(z.string(), z.string()).optional(),
});
export type Secret = z.infer<typeof Secret>;

/**
 * The part of a Secret Portico holds, or undefined when it holds none of it: a
 * `kubernetes.io/tls` Secret whole; any other Secret only for its `auth` key (the htpasswd file
 * of `auth-type: basic`) and, when it has a `ca.crt`, for `ca.crt`, `ca.crl`, `tls.crt` and `tls.key`
 * (the CA bundle and client certificate of `proxy-ssl-secret`, the CA bundle and revocation list
 * of `auth-tls-secret`); every other key dropped as it arrives,
 * so database passwords and the like never stay in this process. Pure.
 */
export function retainedSecret(secret: Secret): Secret | undefined {
  if (secret.type === 'kubernetes.io/tls') return secret;
  const hasCa = secret.data?.['ca.crt'] !== undefined || secret.stringData?.['ca.crt'] !== undefined;
  const keys = hasCa ? ['auth', 'ca.crt', 'ca.crl', 'tls.crt', 'tls.key'] : ['auth'];
  const pick = (from: Record<string, string> | undefined): Record<string, string> | undefined => {
    if (from === undefined) return undefined;
    const kept = Object.fromEntries(keys.filter((key) => from[key] !== undefined).map((key) => [key, from[key] as string]));
    return Object.keys(kept).length === 0 ? undefined : kept;
  };
  const data = pick(secret.data);
  const stringData = pick(secret.stringData);
  if (data === undefined && stringData === undefined) return undefined;
  const { data: _data, stringData: _stringData, ...rest } = secret;
  return { ...rest, ...(data === undefined ? {} : { data }), ...(stringData === undefined ? {} : { stringData }) };
}

/** Most bytes of keys and values one ConfigMap may hold in Portico (the API server's own limit is 1 MiB). */
export const MAX_CONFIGMAP_BYTES = 1024 * 1024;

/**
 * `v1` ConfigMap: the `data` that `custom-headers` and `auth-proxy-set-headers` name. `binaryData`
 * is never read (sources drop it, retainedConfigMap); more than MAX_CONFIGMAP_BYTES of data fails
 * validation, so an oversized object is reported and never held.
 */
export const ConfigMap = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ConfigMap'),
  metadata: ObjectMeta,
  data: z
    .record(z.string(), z.string())
    .refine((data) => Object.entries(data).reduce((bytes, [key, value]) => bytes + key.length + value.length, 0) <= MAX_CONFIGMAP_BYTES, { message: `more than ${MAX_CONFIGMAP_BYTES} characters of data` })
    .optional(),
});
export type ConfigMap = z.infer<typeof ConfigMap>;

/** The part of a ConfigMap Portico holds: its metadata and `data` (`binaryData` and other fields dropped). Pure. */
export function retainedConfigMap(configMap: ConfigMap): ConfigMap {
  const { metadata } = configMap;
  const kept = { name: metadata.name, namespace: metadata.namespace, uid: metadata.uid, resourceVersion: metadata.resourceVersion };
  const meta = Object.fromEntries(Object.entries(kept).filter(([, value]) => value !== undefined)) as ConfigMap['metadata'];
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: meta, ...(configMap.data === undefined ? {} : { data: configMap.data }) };
}

/** Any object Portico keeps in ClusterState. */
export type KubeObject = Ingress | IngressClass | Service | EndpointSlice | Secret | ConfigMap | GatewayApiObject;

/** Kinds without a namespace. */
export const CLUSTER_SCOPED_KINDS: ReadonlySet<KubeObject['kind']> = new Set(['IngressClass', 'GatewayClass', 'Namespace']);

/** The label EndpointSlices carry to name their Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
