/**
 * `portico routes list|get|apply|delete`: routes through the control API.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { PorticoError } from '../errors.ts';
import type { Command } from './args.ts';
import { usageError } from './args.ts';
import { ApiCallError, CLIENT_OPTIONS, CLIENT_USAGE, ControlClient, bodyOf, table } from './client.ts';

interface RouteResource {
  namespace: string;
  name: string;
  etag: string;
  route: { hosts: string[]; paths: { path: string; pathType: string; backends: { service: string; port: number | string }[] }[]; defaultBackend?: { service: string; port: number | string }; tls?: { secretName: string } } | null;
  unrepresentable?: string;
  ingress: { spec?: { rules?: { host?: string; http?: { paths: { path?: string; backend: { service?: { name: string; port: { number?: number; name?: string } } } }[] } }[]; tls?: unknown[] } };
}

function hostsOf(resource: RouteResource): string {
  const hosts = resource.route?.hosts ?? (resource.ingress.spec?.rules ?? []).map((rule) => rule.host ?? '*');
  return hosts.length === 0 ? '*' : [...new Set(hosts)].join(',');
}

function pathsOf(resource: RouteResource): string {
  if (resource.route === null) {
    const count = (resource.ingress.spec?.rules ?? []).reduce((n, rule) => n + (rule.http?.paths.length ?? 0), 0);
    return `${count} path(s) (Ingress)`;
  }
  const parts = resource.route.paths.map((p) => `${p.path}${p.pathType === 'Exact' ? '(=)' : ''}->${p.backends.map((b) => `${b.service}:${b.port}`).join('+')}`);
  if (resource.route.defaultBackend) parts.push(`default->${resource.route.defaultBackend.service}:${resource.route.defaultBackend.port}`);
  return parts.join(' ');
}

function splitRef(command: Command, ref: string | undefined, namespace: string | undefined): { namespace: string; name: string } {
  if (ref === undefined || ref === '') usageError(command, 'give the route as NAMESPACE/NAME (or NAME with -n)');
  const slash = ref.indexOf('/');
  return slash < 0 ? { namespace: namespace ?? 'default', name: ref } : { namespace: ref.slice(0, slash), name: ref.slice(slash + 1) };
}

async function documentsOf(file: string): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = file === '-' ? await new Response(process.stdin as unknown as ReadableStream).text() : await readFile(file, 'utf8');
  } catch (cause) {
    throw new PorticoError('PORTICO_E_MANIFEST_READ', `cannot read ${file}: ${(cause as Error).message}`, { cause });
  }
  const out: Record<string, unknown>[] = [];
  for (const [index, doc] of parseAllDocuments(text, { uniqueKeys: true }).entries()) {
    if (doc.errors.length > 0) throw new PorticoError('PORTICO_E_MANIFEST_PARSE', `${file} document ${index}: ${doc.errors[0]!.message.split('\n')[0]}`);
    const value = doc.toJS({ maxAliasCount: 100 }) as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new PorticoError('PORTICO_E_MANIFEST_SCHEMA', `${file} document ${index}: not an object`);
    const record = value as Record<string, unknown>;
    // A loop, not push(...items): a spread of a large List's items overflows the stack.
    if (record.kind === 'List' && Array.isArray(record.items)) for (const item of record.items as Record<string, unknown>[]) out.push(item);
    else out.push(record);
  }
  // As kubectl apply does: an empty file is an error, not a silent success.
  if (out.length === 0) throw new PorticoError('PORTICO_E_MANIFEST_SCHEMA', `${file}: no routes or Ingresses to apply (no documents, or only empty ones and empty Lists)`);
  return out;
}

function identity(document: Record<string, unknown>, namespace: string | undefined): { namespace: string; name: string } {
  const meta = 'apiVersion' in document || 'kind' in document ? (document.metadata as Record<string, unknown> | undefined) : document;
  const name = meta?.name;
  if (typeof name !== 'string' || name === '') throw new PorticoError('PORTICO_E_MANIFEST_SCHEMA', 'a document without a name (metadata.name for an Ingress, name for a route)');
  const ns = typeof meta?.namespace === 'string' ? meta.namespace : (namespace ?? 'default');
  return { namespace: ns, name };
}

/** The routes command. */
export const routesCommand: Command = {
  name: 'routes',
  positionals: true,
  usage: `
Usage: portico routes list [-n NS] [options]
       portico routes get NS/NAME [options]
       portico routes apply -f FILE [-n NS] [options]
       portico routes delete NS/NAME [--if-match ETAG] [options]

A route is a friendly object ({name, hosts, paths: [{path, pathType, backends: [{service, port}]}],
tls: {secretName}, sslRedirect, forceSslRedirect}) or a networking.k8s.io/v1 Ingress. apply takes
YAML or JSON (several documents and List kinds too) and creates or replaces each one: a replace
sends the version it just read (If-Match), so a concurrent change is reported, never overwritten.

Options:
  -n, --namespace NS               Namespace (list: only this one; others: default for NAME without NS/).
  -f, --filename FILE              apply: file with routes or Ingresses ('-' for standard input).
  --if-match ETAG                  delete: only if the route is still at this version.${CLIENT_USAGE}
  -h, --help                       Show this help.
`,
  options: { ...CLIENT_OPTIONS, namespace: { type: 'string', short: 'n' }, filename: { type: 'string', short: 'f' }, 'if-match': { type: 'string' } },
  async run(values, positionals) {
    const [verb, ref] = positionals;
    const client = await ControlClient.from(values);
    const namespace = values.namespace as string | undefined;
    const json = values.json === true;
    const out = (text: string) => process.stdout.write(`${text}\n`);
    switch (verb) {
      case 'list': {
        const { body } = await client.json<{ items: RouteResource[] }>('GET', `/v1/routes${namespace ? `?namespace=${encodeURIComponent(namespace)}` : ''}`);
        if (json) out(JSON.stringify(body, null, 2));
        else out(table(['NAMESPACE', 'NAME', 'HOSTS', 'TLS', 'PATHS'], body.items.map((r) => [r.namespace, r.name, hostsOf(r), r.route?.tls?.secretName ?? ((r.ingress.spec?.tls ?? []).length > 0 ? 'yes' : '-'), pathsOf(r)])));
        return 0;
      }
      case 'get': {
        const { namespace: ns, name } = splitRef(this, ref, namespace);
        const { body } = await client.json<RouteResource>('GET', `/v1/routes/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`);
        if (json) out(JSON.stringify(body, null, 2));
        else {
          out(table(['NAMESPACE', 'NAME', 'ETAG', 'HOSTS', 'PATHS'], [[body.namespace, body.name, body.etag, hostsOf(body), pathsOf(body)]]));
          if (body.route === null) out(`(an Ingress without friendly form: ${body.unrepresentable}; see --json)`);
        }
        return 0;
      }
      case 'apply': {
        const file = values.filename as string | undefined;
        if (file === undefined) usageError(this, 'apply needs -f FILE');
        const results: { namespace: string; name: string; action: string; etag: string }[] = [];
        let failed = 0;
        for (const document of await documentsOf(file)) {
          const id = identity(document, namespace);
          const path = `/v1/routes/${encodeURIComponent(id.namespace)}/${encodeURIComponent(id.name)}`;
          const body = JSON.stringify(document);
          try {
            const existing = await client.raw('GET', path);
            // An unexpected answer keeps its problem document (e.g. a name that is not an RFC 1123 subdomain), not "no details".
            if (existing.status !== 200 && existing.status !== 404) throw new ApiCallError(existing.status, (await bodyOf(existing)) as ApiCallError['problem'], `GET ${path}`);
            await existing.body?.cancel();
            const etag = existing.headers.get('etag');
            const headers: Record<string, string> = existing.status === 200 && etag ? { 'If-Match': etag } : { 'If-None-Match': '*' };
            const { body: stored } = await client.json<RouteResource>('PUT', path, { body, headers });
            results.push({ ...id, action: existing.status === 200 ? 'configured' : 'created', etag: stored.etag });
            if (!json) out(`route ${id.namespace}/${id.name} ${existing.status === 200 ? 'configured' : 'created'}`);
          } catch (error) {
            if (!(error instanceof PorticoError)) throw error;
            failed++;
            process.stderr.write(`route ${id.namespace}/${id.name}: ${error.message}\n`);
          }
        }
        if (json) out(JSON.stringify(results, null, 2));
        return failed > 0 ? 1 : 0;
      }
      case 'delete': {
        const { namespace: ns, name } = splitRef(this, ref, namespace);
        const ifMatch = values['if-match'] as string | undefined;
        const { body } = await client.json<RouteResource>('DELETE', `/v1/routes/${encodeURIComponent(ns)}/${encodeURIComponent(name)}`, ifMatch ? { headers: { 'If-Match': `"${ifMatch}"` } } : {});
        out(json ? JSON.stringify(body, null, 2) : `route ${ns}/${name} deleted`);
        return 0;
      }
      default:
        usageError(this, `unknown or missing subcommand ${JSON.stringify(verb ?? '')}: use list, get, apply or delete`);
    }
  },
};
