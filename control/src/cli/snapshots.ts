/**
 * `portico snapshots list|get|diff`: snapshot history, exports and diffs from the control API.
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from './args.ts';
import { usageError } from './args.ts';
import { CLIENT_OPTIONS, CLIENT_USAGE, ControlClient, shortVersion, table, uniquePrefixDigits } from './client.ts';

interface Summary {
  version: string;
  publishedAt: string;
  current: boolean;
  changes: { hosts: number; routes: number; backends: number; endpoints: number; certificates: number; onlyEndpoints: boolean } | null;
  conditions: { reason: string }[];
  conditionCount: number;
  retained: boolean;
}

interface ChangeSet {
  added: string[];
  removed: string[];
  changed: string[];
}

/** Human text for a diff: one line per added (+), removed (-) and changed (~) identity. */
export function formatDiff(diff: Record<string, unknown>): string {
  const lines = [`${diff.from} -> ${diff.to}${diff.onlyEndpoints ? '  (endpoints only)' : ''}`];
  for (const kind of ['hosts', 'routes', 'backends', 'endpoints', 'certificates']) {
    const set = diff[kind] as ChangeSet;
    for (const [sign, list] of [['+', set.added], ['-', set.removed], ['~', set.changed]] as const) for (const item of list) lines.push(`  ${sign} ${kind.slice(0, -1).padEnd(11)} ${item}`);
  }
  if (lines.length === 1) lines.push('  (no changes)');
  return lines.join('\n');
}

/** The snapshots command. */
export const snapshotsCommand: Command = {
  name: 'snapshots',
  positionals: true,
  usage: `
Usage: portico snapshots list [options]
       portico snapshots get VERSION|current [-o FILE] [options]
       portico snapshots diff FROM TO [options]

VERSION is a full version (sha256:…), a unique prefix of its hex digits (7 or more), or
"current". Exports redact TLS private keys to a fingerprint.

Options:
  -o, --output FILE                get: write the export to FILE.${CLIENT_USAGE}
  -h, --help                       Show this help.
`,
  options: { ...CLIENT_OPTIONS, output: { type: 'string', short: 'o' } },
  async run(values, positionals) {
    const [verb, a, b] = positionals;
    const client = await ControlClient.from(values);
    const json = values.json === true;
    const out = (text: string) => process.stdout.write(`${text}\n`);
    switch (verb) {
      case 'list': {
        const { body } = await client.json<{ current: string | null; items: Summary[] }>('GET', '/v1/snapshots');
        if (json) out(JSON.stringify(body, null, 2));
        else {
          const digits = uniquePrefixDigits(body.items.map((s) => s.version));
          const rows = body.items.map((s) => {
            const c = s.changes;
            const changes = c === null ? 'first' : c.onlyEndpoints ? `endpoints only (${c.endpoints})` : `hosts ${c.hosts} routes ${c.routes} backends ${c.backends} endpoints ${c.endpoints} certs ${c.certificates}`;
            return [`${s.current ? '*' : ' '} ${shortVersion(s.version, digits)}`, s.publishedAt, String(s.conditionCount), s.retained ? changes : `${changes} (summary only)`];
          });
          out(table(['  VERSION', 'PUBLISHED', 'CONDITIONS', 'CHANGES'], rows));
        }
        return 0;
      }
      case 'get': {
        if (a === undefined) usageError(this, 'get needs a VERSION (or current)');
        const { body } = await client.json<{ version: string; publishedAt: string; conditions: unknown[]; snapshot: { hosts: unknown[]; endpointSets: unknown[]; certificates: unknown[] } }>('GET', `/v1/snapshots/${encodeURIComponent(a)}`);
        const output = values.output as string | undefined;
        if (output !== undefined) {
          await writeFile(output, `${JSON.stringify(body, null, 2)}\n`);
          process.stderr.write(`wrote snapshot ${body.version} to ${output}\n`);
        } else if (json) out(JSON.stringify(body, null, 2));
        else {
          out(table(['VERSION', 'PUBLISHED', 'HOSTS', 'ENDPOINT SETS', 'CERTIFICATES', 'CONDITIONS'], [[body.version, body.publishedAt, String(body.snapshot.hosts.length), String(body.snapshot.endpointSets.length), String(body.snapshot.certificates.length), String(body.conditions.length)]]));
        }
        return 0;
      }
      case 'diff': {
        if (a === undefined || b === undefined) usageError(this, 'diff needs FROM and TO');
        const { body } = await client.json<Record<string, unknown>>('GET', `/v1/snapshots/${encodeURIComponent(a)}/diff/${encodeURIComponent(b)}`);
        out(json ? JSON.stringify(body, null, 2) : formatDiff(body));
        return 0;
      }
      default:
        usageError(this, `unknown or missing subcommand ${JSON.stringify(verb ?? '')}: use list, get or diff`);
    }
  },
};
