/**
 * Liveness, readiness and Prometheus metrics of a control process.
 */
import { Hono } from 'hono';
import type { Registry } from 'prom-client';

/** What the health routes ask of the process. */
export interface HealthSource {
  /** Ready only after the first snapshot is published. */
  readonly ready: () => boolean;
  /** Why the process is not ready although `ready` says it could be (e.g. a manifest that never parsed); undefined when nothing holds it back. */
  readonly notReady?: () => string | undefined;
  readonly registry: Registry;
}

/** `/healthz` (process alive), `/readyz` (first snapshot published), `/metrics`. */
export function healthRoutes(source: HealthSource): Hono {
  const app = new Hono();
  app.get('/healthz', (c) => c.text('ok\n'));
  app.get('/readyz', (c) => {
    if (!source.ready()) return c.text('not ready: no snapshot published yet\n', 503);
    const reason = source.notReady?.();
    return reason === undefined ? c.text('ready\n') : c.text(`not ready: ${reason}\n`, 503);
  });
  app.get('/metrics', async (c) => c.body(await source.registry.metrics(), 200, { 'Content-Type': source.registry.contentType }));
  return app;
}
