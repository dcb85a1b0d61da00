/**
 * `portico check`: what Portico will make of a team's Ingresses before they migrate from
 * ingress-nginx. The facts come from the real build (see check-report.ts); this file prints them.
 */
import type { Command } from './args.ts';
import { requireString } from './args.ts';
import type { CheckReport } from './check-report.ts';
import { checkIngresses } from './check-report.ts';
import { CLASS_OPTIONS, classSelection, compileManifests, formatProblem } from './load.ts';

/** The check command. */
export const checkCommand: Command = {
  name: 'check',
  usage: `
Usage: portico check --manifests DIR [--json] [options]

Compiles the manifests exactly as the control plane would and prints, per Ingress, each
nginx.ingress.kubernetes.io/* (and legacy ingress.kubernetes.io/*) annotation as honoured,
approximated (how), refused (why) or unsupported (not yet supported, served without it), then a
summary. Ingresses that answer 503 (an access-restricting annotation Portico does not enforce, or a
value it cannot serve) are listed first. Manifest files that cannot be read are named by file and
line on standard error; the rest is still checked.
Exit status: 0 when every Ingress is served, 1 when any answers 503 or a manifest could not be read.

Options:
  --manifests DIR                  Manifest directory or file (YAML/JSON, kubectl style).
  --json                           Print {"ingresses": [...], "summary": {...}, "problems": [...]} as JSON.
  --ingress-class NAME             Class name served when no IngressClass object names it (default portico);
                                   Ingresses of another class are listed as skipped.
  --no-watch-ingress-without-class Ignore Ingresses without a class (served by default offline).
  -h, --help                       Show this help.
`,
  options: {
    manifests: { type: 'string' },
    json: { type: 'boolean', default: false },
    ...CLASS_OPTIONS,
  },
  async run(values) {
    const manifests = requireString(this, values, 'manifests');
    const selection = classSelection(values);
    const { snapshot, conditions, problems, state } = await compileManifests(manifests, selection);
    for (const problem of problems) process.stderr.write(`${formatProblem(problem)}\n`);
    const report = checkIngresses(state, snapshot, conditions, selection);
    if (values.json === true) process.stdout.write(`${JSON.stringify({ ...report, problems }, null, 2)}\n`);
    else process.stdout.write(formatReport(report, manifests));
    return report.summary.refused.length > 0 || problems.some((p) => p.severity === 'error') ? 1 : 0;
  },
};

/** The report as text: one block per Ingress, then the summary. */
function formatReport(report: CheckReport, manifests: string): string {
  const lines: string[] = [];
  if (report.ingresses.length === 0) return `no Ingresses found in ${manifests}\n`;
  const width = Math.max(...report.ingresses.flatMap((i) => i.annotations.map((a) => a.key.length)), 0);
  for (const ingress of report.ingresses) {
    const head = `Ingress ${ingress.namespace}/${ingress.name}`;
    if (ingress.status === 'skipped') {
      lines.push(`${head}: skipped (its class is not Portico's; see --ingress-class)`, '');
      continue;
    }
    lines.push(ingress.status === 'refused' ? `${head}: NOT SERVED (503): ${ingress.refused!}` : `${head}: served`);
    if (ingress.annotations.length === 0) lines.push('  no ingress-nginx annotations');
    for (const a of ingress.annotations) lines.push(`  ${(a.verdict === 'unsupported' ? 'not yet supported' : a.verdict).padEnd(17)} ${a.key.padEnd(width)}  ${a.note}`);
    for (const c of ingress.conditions) lines.push(`  ${c.severity.toLowerCase()}: ${c.field}: ${c.message} [${c.reason}]`);
    lines.push('');
  }
  const { summary } = report;
  const counts = summary.annotations;
  lines.push(
    'Summary:',
    `  ${summary.ingresses} Ingresses: ${summary.served} served, ${summary.refused.length} not served (503), ${summary.skipped} skipped for class`,
    `  annotations: ${counts.honoured} honoured, ${counts.approximated} approximated, ${counts.refused} refused, ${counts.unsupported} not yet supported`,
  );
  if (summary.refused.length > 0) lines.push('  answer 503 until their refused annotations are removed or enforced another way:', ...summary.refused.map((id) => `    ${id}`));
  return `${lines.join('\n')}\n`;
}
