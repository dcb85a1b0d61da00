/**
 * `proxy-body-size` and `proxy-connect-timeout` / `proxy-read-timeout` / `proxy-send-timeout`,
 * as ingress-nginx documents them (docs/user-guide/nginx-configuration/annotations.md, "Custom
 * max body size" and "Custom timeouts"; test/e2e/annotations/proxy.go):
 *
 * - `proxy-body-size: 8m` (nginx `client_max_body_size`: a number with an optional `k`/`m`/`g`
 *   suffix, any case; `0` turns the check off): a request whose Content-Length exceeds it gets 413
 *   and the endpoint never sees it; a chunked body is counted as it arrives and one that crosses
 *   the limit is cut off the endpoint and answered 413 (if no response started). Without the
 *   annotation Portico keeps its global behaviour (no per-route limit), unlike ingress-nginx's
 *   1m default: an Ingress that was migrating fine must not start refusing uploads.
 * - The timeouts are whole seconds (ingress-nginx's values are unitless), each overriding the
 *   data plane's global `--connect-timeout-ms` / `--read-timeout-ms` / `--send-timeout-ms` for the
 *   routes of the Ingress; a timeout still answers 504 as a global one does.
 *
 * - `client-body-buffer-size` is checked and changes nothing: Portico streams request bodies.
 *
 * A value ingress-nginx's validation would reject is not applied (the global behaviour stays),
 * with an InvalidAnnotation Warning naming it, as ingress-nginx ignores it.
 */
import type { AnnotationReader, PolicyModule, PolicyOutcome, RequestFacts, UpstreamSettings } from './module.ts';

/** The largest value accepted for a size (bytes) or a timeout (ms): a safe integer with room. */
const MAX = 2 ** 52;

const SIZE = /^(\d{1,15})([kmg]?)$/i;
const UNIT: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Pure: an nginx size (`8m`, `512k`, `1024`, `0`) in bytes, or undefined when it is not one. */
export function parseNginxSize(value: string): number | undefined {
  const match = SIZE.exec(value);
  if (match === null) return undefined;
  const bytes = Number(match[1]) * (UNIT[(match[2] as string).toLowerCase()] as number);
  return bytes <= MAX ? bytes : undefined;
}

function readSize(reader: AnnotationReader): number | undefined {
  const value = reader.string('proxy-body-size');
  if (value === undefined) return undefined;
  const bytes = parseNginxSize(value);
  if (bytes === undefined) reader.warn('proxy-body-size', `${JSON.stringify(value)} is not an nginx size (digits with an optional k, m or g suffix); not applied, the data plane's global request-body behaviour stays`);
  return bytes;
}

function readSeconds(reader: AnnotationReader, name: string): number | undefined {
  const value = reader.string(name);
  if (value === undefined) return undefined;
  if (/^\d{1,7}$/.test(value) && Number(value) > 0) return Number(value) * 1000;
  reader.warn(name, `${JSON.stringify(value)} is not a whole number of seconds above 0 (ingress-nginx timeouts are unitless seconds); not applied, the data plane's global timeout stays`);
  return undefined;
}

/**
 * `client-body-buffer-size` sizes nginx's in-memory request body buffer (beyond it, bodies spill
 * to a temporary file). Portico streams bodies and holds none, so the value is only checked.
 */
function checkBufferSize(reader: AnnotationReader): void {
  const value = reader.string('client-body-buffer-size');
  if (value !== undefined && parseNginxSize(value) === undefined) reader.warn('client-body-buffer-size', `${JSON.stringify(value)} is not an nginx size (digits with an optional k, m or g suffix); ignored, as ingress-nginx does (Portico streams request bodies and never buffers them either way)`);
}

/** Upstream settings of a route: body size and timeouts. */
export const proxyModule: PolicyModule<UpstreamSettings> = {
  key: 'proxy',
  phase: 'request',
  annotations: [
    { name: 'proxy-body-size', support: 'approximated', note: 'Content-Length over it: 413 and the backend never sees the request; a chunked body is counted as it arrives (chunk framing included) and cut at the limit, 413 unless the response started; 0 = unlimited; without the annotation no per-route limit (ingress-nginx: 1m)' },
    { name: 'proxy-connect-timeout', support: 'honoured', note: 'seconds to connect to an endpoint, overriding --connect-timeout-ms for the routes; 504 when it passes' },
    { name: 'proxy-read-timeout', support: 'honoured', note: 'seconds between two reads of the response, overriding --read-timeout-ms for the routes; 504 before the response starts' },
    { name: 'proxy-send-timeout', support: 'honoured', note: 'seconds between two writes of the request to the endpoint, overriding --send-timeout-ms for the routes; 504 before the response starts' },
    { name: 'client-body-buffer-size', support: 'approximated', note: 'accepted and checked (an nginx size; unreadable: Warning, as ingress-nginx ignores it) but changes nothing: Portico never buffers request bodies (nor writes them to disk), it streams each read to the endpoint with backpressure, so there is no buffer to size; what a client may send is proxy-body-size' },
  ],
  schema: (z) => {
    const ms = z.number().int().positive().max(MAX).optional();
    return z.strictObject({ maxBodyBytes: z.number().int().nonnegative().max(MAX).optional(), connectTimeoutMs: ms, readTimeoutMs: ms, sendTimeoutMs: ms });
  },
  read: (reader) => {
    checkBufferSize(reader);
    const settings: UpstreamSettings = {
      maxBodyBytes: readSize(reader),
      connectTimeoutMs: readSeconds(reader, 'proxy-connect-timeout'),
      readTimeoutMs: readSeconds(reader, 'proxy-read-timeout'),
      sendTimeoutMs: readSeconds(reader, 'proxy-send-timeout'),
    };
    const set = Object.fromEntries(Object.entries(settings).filter(([, value]) => value !== undefined)) as UpstreamSettings;
    return Object.keys(set).length === 0 ? undefined : set;
  },
  prepare: (settings) => (_facts: RequestFacts, outcome: PolicyOutcome) => {
    outcome.upstream = settings;
  },
  describe: (settings) =>
    [
      settings.maxBodyBytes === undefined ? undefined : `request bodies ${settings.maxBodyBytes === 0 ? 'unlimited' : `up to ${settings.maxBodyBytes} bytes (413 beyond)`}`,
      settings.connectTimeoutMs === undefined ? undefined : `connect timeout ${settings.connectTimeoutMs / 1000}s`,
      settings.readTimeoutMs === undefined ? undefined : `read timeout ${settings.readTimeoutMs / 1000}s`,
      settings.sendTimeoutMs === undefined ? undefined : `send timeout ${settings.sendTimeoutMs / 1000}s`,
    ]
      .filter((part) => part !== undefined)
      .join(', ')
      .replace(/^/, 'proxy: '),
};
