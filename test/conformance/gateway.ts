/**
 * `npm run conformance:gateway [-- --report FILE] [--run-test NAME] [--try-features A,B] [--timeout-min N] [--keep]`:
 * the upstream Gateway API conformance suite against Portico on the test cluster
 * (gateway-conformance.ts). Writes the official ConformanceReport YAML to FILE (default
 * gateway-conformance-report.yaml), prints a summary, and exits 0 when the claims of
 * test/conformance/claims.ts hold, 1 when they do not, 2 on bad usage.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { claimProblems, runGatewayConformance, summarize } from './gateway-conformance.ts';

const usage = 'usage: npm run conformance:gateway [-- --report FILE] [--run-test NAME] [--try-features A,B] [--timeout-min N] [--keep]';

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
    console.log(usage);
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
