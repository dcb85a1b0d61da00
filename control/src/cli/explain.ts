/**
 * `portico explain`: which backend a request would reach and why.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { PorticoError } from '../errors.ts';
import type { ExplainRequest, ExplainResult } from '../explain/explain.ts';
import { Explainer } from '../explain/explain.ts';
import { fieldPath } from '../sources/manifests/parse.ts';
import type { Command } from './args.ts';
import { oneSource, usageError } from './args.ts';
import { CLIENT_OPTIONS, ControlClient } from './client.ts';
import { CLASS_OPTIONS, classSelection, compileManifests, formatProblem, GATEWAY_PORT_HELP, GATEWAY_PORT_OPTIONS, gatewayPorts } from './load.ts';

const RequestList = z.array(
  z.strictObject({
    host: z.string(),
    path: z.string().startsWith('/'),
    method: z.string().regex(/^[A-Za-z]+$/).optional(),
    headers: z.record(z.string(), z.string()).optional(),
    scheme: z.enum(['http', 'https']).optional(),
  }),
);

function parseHeader(raw: string): [string, string] {
  const colon = raw.indexOf(':');
  if (colon <= 0) throw new PorticoError('PORTICO_E_USAGE', `--header ${JSON.stringify(raw)}: expected 'Name: value'`);
  return [raw.slice(0, colon).trim().toLowerCase(), raw.slice(colon + 1).trim()];
}

async function readRequests(file: string): Promise<ExplainRequest[]> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PorticoError('PORTICO_E_REQUESTS_FILE', `${file}: ${(error as Error).message}`);
  }
  const parsed = RequestList.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new PorticoError('PORTICO_E_REQUESTS_FILE', `${file}: ${fieldPath(issue.path) || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** Renders one result for people: the winner and why, then the rules that lost. */
export function formatExplanation(request: ExplainRequest, result: ExplainResult): string {
  const lines = [`${(request.method ?? 'GET').toUpperCase()} ${request.scheme ?? 'http'}://${request.host}${request.path}  ->  ${result.status}${result.location ? ` ${result.location}` : ''}`];
  if (result.normalizedPath !== undefined) lines.push(`  path      normalized to ${result.normalizedPath}`);
  if (result.route) {
    const r = result.route;
    lines.push(`  rule      ${r.kind} ${r.namespace}/${r.name} ${r.field}`);
    if (r.path !== null) lines.push(`            host ${r.host}, path ${r.path} (${r.pathType})`);
  }
  lines.push(`  why       ${result.reason}`);
  for (const policy of result.policies ?? []) lines.push(`  policy    ${policy}`);
  if (result.forwardedTarget !== undefined) lines.push(`  forwarded as ${result.forwardedTarget}`);
  for (const b of result.backends) {
    lines.push(`  backend   ${b.namespace}/${b.service}:${b.port}  weight ${b.weight}  (${b.endpoints} endpoint${b.endpoints === 1 ? '' : 's'})`);
  }
  for (const loser of result.lost) {
    lines.push(`  lost      ${loser.route.namespace}/${loser.route.name} ${loser.route.field}: ${loser.reason}`);
  }
  return lines.join('\n');
}

/** The explain command. */
export const explainCommand: Command = {
  name: 'explain',
  usage: `
Usage: portico explain (--manifests DIR | --control URL) (--host H --path P [--method M] [--header 'Name: value']... | --requests FILE) [options]

Explains, with the same WebAssembly matcher the data plane runs, which rule a request reaches,
which backends (with effective weights) would serve it, and which rules lost and why: offline
from manifests, or against a running control plane's current (or --version) snapshot.

Options:
  --manifests DIR                  Manifest directory or file (YAML/JSON, kubectl style).
  --control URL                    Ask this control API instead (POST /v1/explain).
  --token TOKEN, --token-file FILE Bearer token for --control (default $PORTICO_API_TOKEN, else .portico/api-token).
  --control-ca FILE                With --control: PEM CA that signed the control API's certificate (https:// URLs).
  --allow-insecure-http            With --control: allow sending the token over plain HTTP to a non-loopback address.
  --version V                      With --control: explain against this retained version (default current).
  --host H, --path P               The request's Host header and path (query allowed).
  --method M                       Request method (default GET).
  --header 'Name: value'           A request header; repeatable.
  --scheme http|https              Scheme the request arrives with (default http; redirects apply to http).
  --requests FILE                  JSON array of {host, path, method?, headers?, scheme?}; prints a JSON array in the same order.
  --ingress-class NAME             Class name served when no IngressClass object names it (default portico).
  --no-watch-ingress-without-class Ignore Ingresses without a class (served by default offline).
${GATEWAY_PORT_HELP}
                                   With --manifests: the ports \`portico control\` is given; for \`portico
                                   standalone\` also its --http-port and --https-port (8080 and 8443 by default).
  --json                           Print JSON: {status, backends, route, location?, forwardedTarget?, policies?, reason, lost}.
  -h, --help                       Show this help.
`,
  options: {
    manifests: { type: 'string' },
    host: { type: 'string' },
    path: { type: 'string' },
    method: { type: 'string' },
    header: { type: 'string', multiple: true },
    scheme: { type: 'string' },
    requests: { type: 'string' },
    ...CLIENT_OPTIONS,
    version: { type: 'string' },
    ...CLASS_OPTIONS,
    ...GATEWAY_PORT_OPTIONS,
  },
  async run(values) {
    const source = oneSource(this, values, { manifests: 'DIR', control: 'URL' });
    const remote = source.name === 'control';
    for (const option of Object.keys(GATEWAY_PORT_OPTIONS)) if (remote && values[option] !== undefined) usageError(this, `--${option} applies to --manifests; with --control the control plane's own ports decide`);
    const requestsFile = values.requests as string | undefined;
    if (requestsFile === undefined && (values.host === undefined || values.path === undefined)) usageError(this, 'give --host and --path, or --requests FILE');
    if (requestsFile !== undefined && (values.host !== undefined || values.path !== undefined)) usageError(this, '--requests cannot be combined with --host/--path');
    const scheme = values.scheme as string | undefined;
    if (scheme !== undefined && scheme !== 'http' && scheme !== 'https') usageError(this, `--scheme must be http or https, not ${scheme}`);
    const single: ExplainRequest | undefined =
      requestsFile === undefined
        ? {
            host: String(values.host),
            path: String(values.path),
            method: values.method as string | undefined,
            headers: Object.fromEntries(((values.header as string[] | undefined) ?? []).map(parseHeader)),
            scheme: scheme as 'http' | 'https' | undefined,
          }
        : undefined;
    if (single !== undefined && !single.path.startsWith('/')) usageError(this, `--path must start with '/', got ${JSON.stringify(single.path)}`);
    const requests = single ? [single] : await readRequests(requestsFile!);

    let results: ExplainResult[];
    if (remote) {
      const client = await ControlClient.from(values);
      const version = values.version as string | undefined;
      results = [];
      for (const request of requests) {
        const { body } = await client.json<ExplainResult & { version: string }>('POST', '/v1/explain', { body: JSON.stringify({ ...request, ...(version ? { version } : {}) }) });
        const { version: _explained, ...result } = body;
        results.push(result);
      }
    } else {
      const { snapshot, problems } = await compileManifests(source.value, classSelection(values), { gatewayPorts: gatewayPorts(this, values) });
      for (const problem of problems) process.stderr.write(`${formatProblem(problem)}\n`);
      const explainer = new Explainer(snapshot);
      results = requests.map((request) => explainer.explain(request));
    }
    if (values.json === true || requestsFile !== undefined) {
      process.stdout.write(`${JSON.stringify(single ? results[0] : results, null, 2)}\n`);
    } else {
      process.stdout.write(`${results.map((result, i) => formatExplanation(requests[i]!, result)).join('\n\n')}\n`);
    }
    return 0;
  },
};
