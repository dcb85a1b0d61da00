/**
 * `portico snapshot`: compile a manifest directory and print or export the snapshot and conditions.
 */
import { writeFile } from 'node:fs/promises';
import { redactSnapshot } from '../snapshot/redact.ts';
import type { Command } from './args.ts';
import { requireString } from './args.ts';
import { CLASS_OPTIONS, classSelection, compileManifests, formatProblem, GATEWAY_PORT_HELP, GATEWAY_PORT_OPTIONS, gatewayPorts } from './load.ts';

/** The snapshot command. */
export const snapshotCommand: Command = {
  name: 'snapshot',
  usage: `
Usage: portico snapshot --manifests DIR [-o FILE] [options]

Compiles the manifests exactly as the control plane would and prints
{"snapshot": {...}, "conditions": [...], "problems": [...], "skippedForClass": N} as JSON:
problems are manifest files or documents that could not be used (file, line and column named);
skippedForClass counts Ingresses left out because their class is not Portico's. The snapshot's version is
the SHA-256 of its content: the same manifests always give the same version.
Exit status: 0 when every object compiled cleanly, 1 when there are conditions or manifest errors.

Options:
  --manifests DIR                  Manifest directory or file (YAML/JSON, kubectl style).
  -o, --output FILE                Write the JSON to FILE instead of standard output.
  --show-secrets                   Include TLS private keys (redacted to a fingerprint by default).
  --ingress-class NAME             Class name served when no IngressClass object names it (default portico).
  --no-watch-ingress-without-class Ignore Ingresses without a class (served by default offline).
${GATEWAY_PORT_HELP}
                                   Offline: the ports \`portico control\` is given; for \`portico standalone\`
                                   also its --http-port and --https-port (8080 and 8443 by default).
  -h, --help                       Show this help.
`,
  options: {
    manifests: { type: 'string' },
    output: { type: 'string', short: 'o' },
    'show-secrets': { type: 'boolean', default: false },
    ...CLASS_OPTIONS,
    ...GATEWAY_PORT_OPTIONS,
  },
  async run(values) {
    const manifests = requireString(this, values, 'manifests');
    const { snapshot, conditions, problems, skippedForClass } = await compileManifests(manifests, classSelection(values), { gatewayPorts: gatewayPorts(this, values) });
    for (const problem of problems) process.stderr.write(`${formatProblem(problem)}\n`);
    const shown = values['show-secrets'] === true ? snapshot : redactSnapshot(snapshot);
    const json = `${JSON.stringify({ snapshot: shown, conditions, problems, skippedForClass }, null, 2)}\n`;
    const output = values.output as string | undefined;
    if (output === undefined) process.stdout.write(json);
    else {
      await writeFile(output, json);
      process.stderr.write(`wrote snapshot ${snapshot.version} to ${output}\n`);
    }
    for (const c of conditions) process.stderr.write(`${c.severity.toLowerCase()}: ${c.source.kind} ${c.source.namespace}/${c.source.name} ${c.field}: ${c.message} [${c.reason}]\n`);
    return conditions.length > 0 || problems.some((p) => p.severity === 'error') ? 1 : 0;
  },
};
