/**
 * The admin listener of a data plane: `/healthz`, `/readyz` (a snapshot is loaded), `/metrics`
 * (Prometheus). Never on a traffic port; bind it to loopback when the node's network is public.
 */
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import { listenError } from './listen.ts';
import type { MetricFamily, PrometheusBody } from './metric-families.ts';
import { bodyLength, PROMETHEUS_CONTENT_TYPE, PrometheusText } from './metric-families.ts';

/** What the admin routes read. */
export interface AdminSource {
  /** The served snapshot version, or undefined before the first load. */
  readonly version: () => string | undefined;
  /** What the data plane waits for while it has no snapshot (said by `/readyz`). */
  readonly waitingFor?: () => string;
  /** Why the process is not ready although a snapshot is loaded (standalone: a manifest that never parsed), or undefined. */
  readonly notReady?: () => string | undefined;
  /** Metrics text (in pieces, written one after the other) and its content type (a cluster of workers aggregates here). */
  readonly metrics: () => Promise<{ body: PrometheusBody; contentType: string }>;
}

/**
 * Prometheus text and content type of the families `read` returns (one process's, or merged
 * workers'). The large, rarely changing series (endpoint health) stay rendered between scrapes
 * (`PrometheusText`): a scrape costs what changed since the last one, not the whole set.
 */
export function prometheusMetrics(read: () => readonly MetricFamily[] | Promise<readonly MetricFamily[]>): AdminSource['metrics'] {
  const text = new PrometheusText();
  return async () => ({ body: text.render(await read()), contentType: PROMETHEUS_CONTENT_TYPE });
}

/** Starts the admin server on `address:port`; resolves once listening. */
export async function startAdminServer(source: AdminSource, address: string, port: number): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    if (path === '/healthz') {
      response.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const version = source.version();
      if (version === undefined) {
        const waiting = source.waitingFor?.();
        response.writeHead(503, { 'Content-Type': 'text/plain' }).end(`not ready: no snapshot loaded yet, so the traffic ports are closed${waiting ? `; waiting for ${waiting}` : ''}\n`);
      }
      else {
        const reason = source.notReady?.();
        if (reason === undefined) response.writeHead(200, { 'Content-Type': 'text/plain' }).end(`ready ${version}\n`);
        else response.writeHead(503, { 'Content-Type': 'text/plain' }).end(`not ready: ${reason} (serving ${version})\n`);
      }
    } else if (path === '/metrics') {
      source.metrics().then(
        ({ body, contentType }) => {
          response.writeHead(200, { 'Content-Type': contentType, 'Content-Length': bodyLength(body) });
          // The rendered pieces go out as they are: no copy of the whole text per scrape.
          for (const piece of body) response.write(piece);
          response.end();
        },
        (error: Error) => response.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${error.message}\n`),
      );
    } else {
      response.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found\n');
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) => reject(listenError(error, { port, address, what: 'admin' })));
    server.listen(port, address, () => resolve());
  });
  return server;
}
