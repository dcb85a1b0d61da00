/**
 * `npm run conformance:gateway [-- --report FILE] [--run-test NAME] [--try-features A,B] [--timeout-min N] [--keep]`:
 * the upstream Gateway API conformance suite against Portico on the test cluster
 * (gateway-conformance.ts). Writes the official ConformanceReport YAML to FILE (default
 * gateway-conformance-report.yaml), prints a summary, and exits 0 when the claims of
 * test/conformance/claims.ts hold, 1 when they do not, 2 on bad usage.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { claimProblems, runGatewayConformance, summarize } from './gateway-conformance.ts';

const usage = 'usage: npm run conformance:gateway [-- --report FILE] [--run-test NAME] [--try-features A,B] [--timeout-min N] [--keep]';
const help = `${usage}

Runs the upstream Gateway API conformance suite (GATEWAY-HTTP, standard channel) against
\`portico control\` + \`portico dataplane --h2c\` on a 1-node test cluster, writes the official
ConformanceReport and exits 0 when the claims of test/conformance/claims.ts hold, 1 when they
do not, 2 on bad usage. Needs root and the Go-built test cluster (test/cluster/build.sh).

Options:
  --report FILE         Where the ConformanceReport YAML goes (default gateway-conformance-report.yaml).
  --run-test NAME       Run only this test (the claims are then not judged; exit 1 if it fails).
  --try-features A,B    Also run these Extended features' tests, to see whether they could be claimed.
  --timeout-min N       Bound on the whole run, 1 to 180 minutes (default 40).
  --keep                Leave the cluster and Portico running after the suite (Ctrl-C stops them).
  -h, --help            Show this help.`;

async function main(): Promise<number> {
  let values: { report?: string; 'run-test'?: string; 'try-features'?: string; 'timeout-min'?: string; keep?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { report: { type: 'string' }, 'run-test': { type: 'string' }, 'try-features': { type: 'string' }, 'timeout-min': { type: 'string' }, keep: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 2;
  }
  if (values.help) {
    console.log(help);
    return 0;
  }
  const minutes = values['timeout-min'] === undefined ? 40 : Number(values['timeout-min']);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 180) {
    console.error(`--timeout-min must be a whole number of minutes from 1 to 180, got ${JSON.stringify(values['timeout-min'])}\n${usage}`);
    return 2;
  }
  const extraFeatures = (values['try-features'] ?? '').split(',').map((f) => f.trim()).filter((f) => f !== '');
  const bad = extraFeatures.find((f) => !/^[A-Z][A-Za-z0-9]+$/.test(f));
  if (bad !== undefined) {
    console.error(`--try-features: ${JSON.stringify(bad)} is not a feature name (e.g. HTTPRouteQueryParamMatching)\n${usage}`);
    return 2;
  }
  const reportFile = resolve(values.report ?? 'gateway-conformance-report.yaml');
  // Found out now, not after a run of minutes that cannot write its report.
  const reportDir = dirname(reportFile);
  if (!existsSync(reportDir) || !statSync(reportDir).isDirectory()) {
    console.error(`--report: ${JSON.stringify(reportDir)} is not a directory\n${usage}`);
    return 2;
  }
  if (existsSync(reportFile) && statSync(reportFile).isDirectory()) {
    console.error(`--report: ${JSON.stringify(reportFile)} is a directory; name a file\n${usage}`);
    return 2;
  }
  const outcome = await runGatewayConformance({
    reportFile, timeoutMs: minutes * 60_000, keep: values.keep ?? false,
    ...(values['run-test'] ? { runTest: values['run-test'] } : {}),
    ...(extraFeatures.length > 0 ? { extraFeatures } : {}),
    log: (line) => console.error(line),
  });
  console.log(summarize(outcome, reportFile));
  const problems = claimProblems(outcome);
  if (values['run-test'] === undefined && problems.length > 0) {
    console.log(`\nThe claims in test/conformance/claims.ts do not hold:\n- ${problems.join('\n- ')}`);
    return 1;
  }
  return values['run-test'] !== undefined && outcome.exitCode !== 0 ? 1 : 0;
}

process.exitCode = await main();
