/**
 * `portico check`: what Portico will make of a team's Ingresses before they migrate from
 * ingress-nginx. The facts come from the real build (see check-report.ts); this file prints them.
 */
import type { ClassSelection } from '../build/ingress-class.ts';
import { PorticoError } from '../errors.ts';
import { compileState } from '../pipeline.ts';
import { loadKubeConfig } from '../sources/kubernetes/kubeconfig.ts';
import type { Command } from './args.ts';
import { oneSource, usageError } from './args.ts';
import type { CheckReport, IngressCheck } from './check-report.ts';
import { checkIngresses, isMissingBackend } from './check-report.ts';
import { readCluster } from './cluster-read.ts';
import { CLASS_OPTIONS, classSelection, compileManifests, formatProblem } from './load.ts';

/** How many entries a summary list shows: a cluster of thousands of broken Ingresses must not print thousands of summary lines. */
const LISTED = 20;

/** The check command. */
export const checkCommand: Command = {
  name: 'check',
  usage: `
Usage: portico check --manifests DIR [--json] [options]
       portico check --kubeconfig FILE [--namespace NS]... [--json] [options]

Compiles the manifests exactly as the control plane would and prints, per Ingress, each
nginx.ingress.kubernetes.io/* (and legacy ingress.kubernetes.io/*) annotation as honoured,
approximated (how), refused (why) or unsupported (not yet supported, served without it), then a
summary. Ingresses that answer 503 are listed first: NOT SERVED (an access-restricting annotation
Portico does not enforce, or a value it cannot serve), then BACKEND MISSING (a path or default
backend names a Service, or a port of one, that does not exist, or a resource backend: the errors
under it name each, the summary the first). Then those none of whose paths is routed (each lost
a conflict or was dropped: the errors under them say why). The summary names at most ${LISTED}
Ingresses per list and counts the rest; --json lists all. Manifest files that cannot be read are named by file and
line on standard error; the rest is still checked. With --kubeconfig, the live cluster is listed
once (read-only, with the controller's own informers); objects it cannot read are named likewise.
Exit status: 1 when any Ingress answers 503 (NOT SERVED or BACKEND MISSING), an object or file
could not be read, or the cluster could not be listed; 0 otherwise (an Ingress with no route is
reported, not counted as a failure).

Options:
  --manifests DIR                  Manifest directory or file (YAML/JSON, kubectl style).
  --kubeconfig FILE                Read a live cluster instead (needs list on Ingresses, IngressClasses,
                                   Services, EndpointSlices and Secrets).
  --namespace NS                   With --kubeconfig: only this namespace; repeatable (default: all).
  --timeout-ms N                   With --kubeconfig: give up listing after N ms (default 30000).
  --json                           Print {"ingresses": [...], "summary": {...}, "problems": [...]} as JSON.
  --ingress-class NAME             Class name served when no IngressClass object names it (default portico);
                                   Ingresses of another class are listed as skipped.
  --no-watch-ingress-without-class Ignore Ingresses without a class (served by default offline).
  -h, --help                       Show this help.
`,
  options: {
    manifests: { type: 'string' },
    kubeconfig: { type: 'string' },
    namespace: { type: 'string', multiple: true },
    'timeout-ms': { type: 'string', default: '30000' },
    json: { type: 'boolean', default: false },
    ...CLASS_OPTIONS,
  },
  async run(values) {
    const source = oneSource(this, values, { manifests: 'DIR', kubeconfig: 'FILE' });
    const manifests = source.name === 'manifests' ? source.value : undefined;
    const kubeconfig = source.name === 'kubeconfig' ? source.value : undefined;
    const timeoutMs = Number(values['timeout-ms']);
    if (!Number.isInteger(timeoutMs) || timeoutMs < 1 || timeoutMs > 600_000) usageError(this, `--timeout-ms must be 1..600000, got ${String(values['timeout-ms'])}`);
    const selection = classSelection(values);
    const { report, problems, failed } = manifests !== undefined ? await checkManifests(manifests, selection) : await checkCluster(kubeconfig!, (values.namespace as string[] | undefined) ?? [], timeoutMs, selection);
    if (values.json === true) process.stdout.write(`${JSON.stringify({ ...report, problems }, null, 2)}\n`);
    else process.stdout.write(formatReport(report, manifests ?? `the cluster of ${kubeconfig!}`));
    return report.summary.refused.length > 0 || report.summary.missingBackend.length > 0 || failed ? 1 : 0;
  },
};

/** A report and what could not be read (already printed to standard error). */
interface Checked {
  readonly report: CheckReport;
  readonly problems: readonly unknown[];
  /** Something could not be read, so the report may be missing an Ingress. */
  readonly failed: boolean;
}

async function checkManifests(manifests: string, selection: ClassSelection): Promise<Checked> {
  const { snapshot, conditions, problems, state } = await compileManifests(manifests, selection);
  for (const problem of problems) process.stderr.write(`${formatProblem(problem)}\n`);
  return { report: checkIngresses(state, snapshot, conditions, selection), problems, failed: problems.some((p) => p.severity === 'error') };
}

async function checkCluster(kubeconfig: string, namespaces: readonly string[], timeoutMs: number, selection: ClassSelection): Promise<Checked> {
  let kubeConfig;
  try {
    kubeConfig = loadKubeConfig(kubeconfig);
  } catch (error) {
    throw new PorticoError('PORTICO_E_CLUSTER_READ', `cannot load kubeconfig ${kubeconfig}: ${(error as Error).message}`, { cause: error });
  }
  const { state, problems } = await readCluster(kubeConfig, namespaces, timeoutMs);
  for (const problem of problems) process.stderr.write(`error: ${problem}\n`);
  const { snapshot, conditions } = compileState(state, selection);
  return { report: checkIngresses(state, snapshot, conditions, selection), problems, failed: problems.length > 0 };
}

/** The report as text: one block per Ingress, then the summary. */
function formatReport(report: CheckReport, manifests: string): string {
  const lines: string[] = [];
  if (report.ingresses.length === 0) return `no Ingresses found in ${manifests}\n`;
  // A loop, not Math.max(...keys): a spread of every annotation of a large cluster overflows the stack.
  let width = 0;
  for (const ingress of report.ingresses) for (const a of ingress.annotations) width = Math.max(width, a.key.length);
  for (const ingress of report.ingresses) {
    const head = `Ingress ${ingress.namespace}/${ingress.name}`;
    if (ingress.status === 'skipped') {
      lines.push(`${head}: skipped (its class is not Portico's; see --ingress-class)`, '');
      continue;
    }
    if (ingress.status === 'refused') lines.push(`${head}: NOT SERVED (503): ${ingress.refused!}`);
    else if (ingress.status === 'missingBackend') {
      const { backends, of } = ingress.missing!;
      lines.push(`${head}: BACKEND MISSING (503): ${backends} of ${of} backends ${backends === 1 ? 'names' : 'name'} no existing Service port (see below)`);
    }
    else if (ingress.status === 'unrouted') lines.push(`${head}: NO ROUTE (each of its paths is claimed by another object or was dropped; see below)`);
    else lines.push(`${head}: served`);
    if (ingress.annotations.length === 0) lines.push('  no ingress-nginx annotations');
    for (const a of ingress.annotations) lines.push(`  ${(a.verdict === 'unsupported' ? 'not yet supported' : a.verdict).padEnd(17)} ${a.key.padEnd(width)}  ${a.note}`);
    for (const c of ingress.conditions) lines.push(`  ${c.severity.toLowerCase()}: ${c.field}: ${c.message} [${c.reason}]`);
    lines.push('');
  }
  const { summary } = report;
  const counts = summary.annotations;
  lines.push(
    'Summary:',
    `  ${summary.ingresses} ${summary.ingresses === 1 ? 'Ingress' : 'Ingresses'}: ${summary.served} served, ${summary.refused.length} not served (503), ${summary.missingBackend.length} with a missing backend (503), ${summary.unrouted.length} with no route, ${summary.skipped} skipped for class`,
    `  annotations: ${counts.honoured} honoured, ${counts.approximated} approximated, ${counts.refused} refused, ${counts.unsupported} not yet supported`,
  );
  if (summary.refused.length > 0) lines.push('  answer 503 until their refused annotations are removed or enforced another way:', ...listed(summary.refused));
  if (summary.missingBackend.length > 0) {
    const missing = report.ingresses.filter((ingress) => ingress.status === 'missingBackend');
    const entry = (ingress: IngressCheck) => `${ingress.namespace}/${ingress.name}: ${ingress.conditions.find(isMissingBackend)!.message}${ingress.missing!.backends > 1 ? ` (and ${ingress.missing!.backends - 1} more missing)` : ''}`;
    lines.push('  answer 503 where a backend names no existing Service port:', ...listed(missing.map(entry)));
  }
  return `${lines.join('\n')}\n`;
}

/** The summary lines of `entries`: the first LISTED, then how many more there are. */
function listed(entries: readonly string[]): string[] {
  const shown = entries.slice(0, LISTED).map((entry) => `    ${entry}`);
  if (entries.length > LISTED) shown.push(`    ... and ${entries.length - LISTED} more (--json lists all)`);
  return shown;
}
