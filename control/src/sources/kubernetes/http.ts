/**
 * Raw JSON requests to the API server with the kubeconfig's credentials. Portico talks to the
 * API in plain JSON so list results, watch events and writes all have one shape.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An API response: status code and parsed JSON body (undefined when empty or not JSON). */
export interface KubeResponse {
  readonly status: number;
  readonly body: unknown;
}

/** An API answer other than 2xx, with the Status message. */
export class KubeApiError extends Error {
  readonly statusCode: number;
  readonly reason: string | undefined;

  constructor(method: string, path: string, response: KubeResponse) {
    const status = response.body as { message?: string; reason?: string } | undefined;
    super(`${method} ${path}: HTTP ${response.status}${status?.message ? `: ${status.message}` : ''}`);
    this.name = 'KubeApiError';
    this.statusCode = response.status;
    this.reason = status?.reason;
  }
}

/** Sends one request; resolves with any status (no throw on 4xx/5xx); rejects on network errors and after `timeoutMs`. */
export async function kubeRequest(kubeConfig: KubeConfig, method: string, path: string, options: { body?: unknown; contentType?: string; timeoutMs?: number } = {}): Promise<KubeResponse> {
  const cluster = kubeConfig.getCurrentCluster();
  if (cluster === null) throw new Error('kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
  const requestOptions: RequestOptions = {
    method,
    headers: {
      Accept: 'application/json',
      ...(payload === undefined ? {} : { 'Content-Type': options.contentType ?? 'application/json', 'Content-Length': Buffer.byteLength(payload) }),
    },
  };
  await kubeConfig.applyToHTTPSOptions(requestOptions);
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send(url, requestOptions, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown;
        try {
          body = text === '' ? undefined : JSON.parse(text);
        } catch {
          body = undefined;
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Like kubeRequest, but rejects with KubeApiError unless the status is 2xx. */
export async function kubeCall(kubeConfig: KubeConfig, method: string, path: string, options: Parameters<typeof kubeRequest>[3] = {}): Promise<unknown> {
  const response = await kubeRequest(kubeConfig, method, path, options);
  if (response.status < 200 || response.status >= 300) throw new KubeApiError(method, path, response);
  return response.body;
}
