/**
 * Conversion of the pre-1.19 Ingress forms (`extensions/v1beta1`, `networking.k8s.io/v1beta1`)
 * that old walkthroughs still show, to `networking.k8s.io/v1`, the way the API server converts them.
 */

/** The apiVersions this module converts. */
export const LEGACY_INGRESS_VERSIONS: readonly string[] = ['extensions/v1beta1', 'networking.k8s.io/v1beta1'];

type Json = Record<string, unknown>;

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** v1beta1 `{serviceName, servicePort}` → v1 `{service: {name, port: {number|name}}}`; other shapes pass through for the schema to judge. */
function convertBackend(backend: unknown): unknown {
  if (!isRecord(backend)) return backend;
  const { serviceName, servicePort, resource, ...rest } = backend;
  if (serviceName === undefined && servicePort === undefined) return backend;
  let port: Json | unknown = servicePort;
  if (typeof servicePort === 'number') port = { number: servicePort };
  else if (typeof servicePort === 'string') port = /^\d+$/.test(servicePort) ? { number: Number(servicePort) } : { name: servicePort };
  return { ...rest, ...(resource === undefined ? {} : { resource }), service: { name: serviceName, port } };
}

/**
 * Returns a `networking.k8s.io/v1` copy of a legacy Ingress document. `pathType` defaults to
 * `ImplementationSpecific` and a missing path to `/`, as the API server's conversion does;
 * `spec.backend` becomes `spec.defaultBackend`. The input is not modified.
 */
export function convertLegacyIngress(document: Json): Json {
  const spec = isRecord(document.spec) ? document.spec : {};
  const { backend, rules, ...specRest } = spec;
  const converted: Json = { ...specRest };
  if (backend !== undefined) converted.defaultBackend = convertBackend(backend);
  if (Array.isArray(rules)) {
    converted.rules = rules.map((rule: unknown) => {
      if (!isRecord(rule) || !isRecord(rule.http) || !Array.isArray(rule.http.paths)) return rule;
      return {
        ...rule,
        http: {
          ...rule.http,
          paths: rule.http.paths.map((path: unknown) =>
            isRecord(path)
              ? {
                  ...path,
                  path: path.path ?? '/',
                  pathType: path.pathType ?? 'ImplementationSpecific',
                  backend: convertBackend(path.backend),
                }
              : path,
          ),
        },
      };
    });
  }
  return { ...document, apiVersion: 'networking.k8s.io/v1', spec: converted };
}
