/**
 * `portico control`: the cluster-mode control plane (a Deployment in production).
 */
import { readFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createSecureContext } from 'node:tls';
import { serve } from '@hono/node-server';
import { pino } from 'pino';
import { createApp } from '../api/app.ts';
import { NodeMirror } from '../nodes/mirror.ts';
import { NodeRegistry } from '../nodes/registry.ts';
import { servedFrom } from '../api/conflicts.ts';
import { createControlMetrics } from '../api/metrics.ts';
import { defaultDataPlaneUser, KubernetesAuthenticator } from '../auth/kubernetes.ts';
import { isLoopbackHost } from '../auth/transport.ts';
import { PORTICO_CONTROLLER } from '../build/ingress-class.ts';
import { ClusterController, defaultIdentity } from '../controller/cluster-controller.ts';
import { loadKubeConfig } from '../sources/kubernetes/kubeconfig.ts';
import { KubernetesRouteStore } from '../sources/store/kubernetes.ts';
import type { Command } from './args.ts';
import { usageError } from './args.ts';
import { GATEWAY_PORT_HELP, GATEWAY_PORT_OPTIONS, HISTORY_HELP, HISTORY_OPTIONS, gatewayPorts, historyOptions } from './load.ts';
import { untilSignal } from './signals.ts';

/** The control API's certificate and key from --tls-cert/--tls-key, or undefined for plain HTTP. Exits with a usage error when only one is given or a file cannot be read. */
export function listenerTls(command: Command, values: Record<string, unknown>): { cert: string; key: string } | undefined {
  const certFile = values['tls-cert'] as string | undefined;
  const keyFile = values['tls-key'] as string | undefined;
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) return usageError(command, '--tls-cert and --tls-key go together');
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      return usageError(command, `cannot read ${what} ${file}: ${(error as Error).message}`);
    }
  };
  const tls = { cert: read(certFile, '--tls-cert'), key: read(keyFile, '--tls-key') };
  try {
    createSecureContext(tls);
  } catch (error) {
    usageError(command, `--tls-cert ${certFile} and --tls-key ${keyFile} are not a usable pair: ${(error as Error).message}`);
  }
  return tls;
}

/** The control command. */
export const controlCommand: Command = {
  name: 'control',
  usage: `
Usage: portico control [options]

Watches Ingress, IngressClass, Service, EndpointSlice and TLS Secret objects, publishes
snapshots, and — on the replica holding the Lease — writes Ingress status and Events. Serves
the control API on --listen: callers authenticate with a Kubernetes bearer token (TokenReview)
and are authorized like kubectl on the equivalent Ingress verb (SubjectAccessReview); route
writes become Ingresses labelled app.kubernetes.io/managed-by=portico, written with the
caller's own token.

Options:
  --kubeconfig PATH                 Kubeconfig (default: in-cluster, else $KUBECONFIG or ~/.kube/config).
  --namespace NS                    Watch only this namespace; repeatable (default: all namespaces).
  --ingress-class NAME              Class served when no IngressClass object names it (default portico).
  --watch-ingress-without-class     Also serve Ingresses without any class (default: only with a default IngressClass of Portico).
  --publish-service NS/NAME         Service whose externalIPs / load-balancer addresses go into Ingress status.
  --publish-address ADDR            Address for Ingress status when there is no publish Service; repeatable.
  --dataplane-selector SELECTOR     Data-plane pods whose host IPs are the fallback status addresses (default app.kubernetes.io/component=dataplane).
  --control-namespace NS            Namespace of the Lease and data-plane pods (default $POD_NAMESPACE or portico-system).
  --election-id NAME                Lease name (default portico-controller).
  --listen ADDR:PORT                Control API, health and metrics listener (default 0.0.0.0:9080).
  --tls-cert FILE                   PEM certificate (chain) of the control API: serve HTTPS, which data planes
  --tls-key FILE                      verify with --control-ca (docs/control-api.md: generating it). /v1/sync carries
                                      TLS private keys and tokens: without TLS, data planes refuse a non-loopback URL.
  --dataplane-identity USER         Username of data planes (they may only sync and report status); repeatable
                                    (default system:serviceaccount:<control-namespace>:portico-dataplane).
  --cors-origin ORIGIN              Allow browser calls from ORIGIN; repeatable (default: CORS off).
  --debounce-ms N                   Quiet time before a rebuild (default 100).
${HISTORY_HELP}
${GATEWAY_PORT_HELP}
  --log-level LEVEL                 pino level (default info).
  -h, --help                        Show this help.
`,
  options: {
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', multiple: true },
    'ingress-class': { type: 'string', default: 'portico' },
    'watch-ingress-without-class': { type: 'boolean', default: false },
    'publish-service': { type: 'string' },
    'publish-address': { type: 'string', multiple: true },
    'dataplane-selector': { type: 'string', default: 'app.kubernetes.io/component=dataplane' },
    'control-namespace': { type: 'string' },
    'election-id': { type: 'string', default: 'portico-controller' },
    listen: { type: 'string', default: '0.0.0.0:9080' },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'dataplane-identity': { type: 'string', multiple: true },
    'cors-origin': { type: 'string', multiple: true },
    'debounce-ms': { type: 'string', default: '100' },
    ...HISTORY_OPTIONS,
    ...GATEWAY_PORT_OPTIONS,
    'log-level': { type: 'string', default: 'info' },
  },
  async run(values) {
    const listen = String(values.listen);
    const colon = listen.lastIndexOf(':');
    const port = Number(listen.slice(colon + 1));
    if (colon < 0 || !Number.isInteger(port) || port < 0 || port > 65535) usageError(this, `--listen must be ADDR:PORT, got ${listen}`);
    const debounceMs = Number(values['debounce-ms']);
    if (!Number.isFinite(debounceMs) || debounceMs < 0) usageError(this, `--debounce-ms must be a non-negative number`);
    const logger = pino({ level: String(values['log-level']), base: { component: 'control' } });
    const tls = listenerTls(this, values);
    if (tls === undefined && !isLoopbackHost(listen.slice(0, colon))) logger.warn({ listen }, 'the control API serves plain HTTP beyond loopback: data planes refuse it unless --allow-insecure-http; give --tls-cert and --tls-key');
    const metrics = createControlMetrics();
    const kubeConfig = loadKubeConfig(values.kubeconfig as string | undefined);
    const selection = { className: String(values['ingress-class']), controller: PORTICO_CONTROLLER, watchWithoutClass: values['watch-ingress-without-class'] === true };
    const controlNamespace = (values['control-namespace'] as string | undefined) ?? process.env.POD_NAMESPACE ?? 'portico-system';
    const controller = new ClusterController({
      kubeConfig,
      selection,
      namespaces: (values.namespace as string[] | undefined) ?? [],
      publishService: values['publish-service'] as string | undefined,
      publishAddresses: (values['publish-address'] as string[] | undefined) ?? [],
      dataPlaneSelector: String(values['dataplane-selector']),
      controlNamespace,
      electionId: String(values['election-id']),
      identity: defaultIdentity(),
      debounceMs,
      history: historyOptions(this, values),
      gatewayPorts: gatewayPorts(this, values),
      logger,
      metrics,
    });
    // Node status is shared between replicas through Leases, so every replica shows every node.
    const nodes = new NodeRegistry();
    const mirror = new NodeMirror({ kubeConfig, namespace: controlNamespace, registry: nodes, logger });
    const api = createApp({
      nodes,
      history: controller.history,
      store: new KubernetesRouteStore({ kubeConfig }),
      auth: new KubernetesAuthenticator({ kubeConfig, dataPlaneUsers: (values['dataplane-identity'] as string[] | undefined) ?? [defaultDataPlaneUser(controlNamespace)] }),
      served: servedFrom(controller.state, selection),
      metrics,
      logger,
      ready: () => controller.ready,
      corsOrigins: (values['cors-origin'] as string[] | undefined) ?? [],
    });
    // The API answers /healthz at once and /readyz 503 until the first snapshot is published.
    const server = serve({ fetch: api.app.fetch, hostname: listen.slice(0, colon), port, ...(tls === undefined ? {} : { createServer: createHttpsServer, serverOptions: tls }) });
    await controller.start();
    mirror.start();
    logger.info({ version: controller.history.current()?.snapshot.version }, 'first snapshot published');
    const signal = await untilSignal();
    logger.info({ signal }, 'stopping');
    await mirror.stop();
    await controller.stop();
    server.close();
    return 0;
  },
};
