/**
 * The conformance runner's own logic, without a cluster: how a run's outcome is held against the
 * claims (a failure not listed, a listed exception that passes, a claimed Extended failure, no
 * report, a setup failure each break them), and the CLI refusing bad usage before it starts
 * anything (exit 2, one line naming the option).
 */
import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { PROFILE } from './claims.ts';
import type { ConformanceOutcome, ConformanceReport, TestResult } from './gateway-conformance.ts';
import { claimProblems, summarize } from './gateway-conformance.ts';

const script = new URL('./gateway.ts', import.meta.url).pathname;

function outcome(core: { passed: string[]; failed: string[] }, extendedFailed: string[] = [], setupError?: string): ConformanceOutcome {
  const tests = new Map<string, TestResult>([...core.passed.map((n) => [n, 'PASS'] as const), ...core.failed.map((n) => [n, 'FAIL'] as const), ...extendedFailed.map((n) => [n, 'FAIL'] as const)]);
  const report: ConformanceReport = {
    kind: 'ConformanceReport', implementation: { project: 'portico', version: 'v0.1.0' }, gatewayAPIVersion: 'v1.6.3', gatewayAPIChannel: 'standard', mode: 'default',
    profiles: [{
      name: PROFILE, summary: '',
      core: { result: core.failed.length ? 'failure' : 'success', statistics: { Passed: core.passed.length, Failed: core.failed.length, Skipped: 0 }, failedTests: core.failed },
      extended: { result: extendedFailed.length ? 'failure' : 'success', statistics: { Passed: 0, Failed: extendedFailed.length, Skipped: 0 }, failedTests: extendedFailed, supportedFeatures: [], unsupportedFeatures: ['HTTPRouteQueryParamMatching'] },
    }],
  };
  return { report, tests, exitCode: core.failed.length || extendedFailed.length ? 1 : 0, durationMs: 61_000, outputFile: '/tmp/out.log', setupError };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [script, ...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr });
    });
  });
}

describe('conformance runner: claims and usage', () => {
  const exceptions = { HTTPRouteHTTPSListener: 'no HTTPS yet', GatewayInvalidTLSConfiguration: 'no HTTPS yet' };
  const listed = Object.keys(exceptions);

  it('holds when exactly the listed exceptions fail', () => {
    expect(claimProblems(outcome({ passed: ['HTTPRouteSimpleSameNamespace'], failed: listed }), exceptions)).toEqual([]);
  });

  it('breaks on an unlisted Core failure, a claimed Extended failure, a missing report or profile, a setup failure', () => {
    expect(claimProblems(outcome({ passed: [], failed: [...listed, 'HTTPRouteWeightUnlisted'] }), exceptions)).toEqual(['Core test HTTPRouteWeightUnlisted failed (not a listed exception)']);
    expect(claimProblems(outcome({ passed: ['HTTPRouteSimpleSameNamespace'], failed: listed }, ['HTTPRouteQueryParamMatching']), exceptions)).toEqual(['Extended test HTTPRouteQueryParamMatching of a claimed feature failed']);
    expect(claimProblems({ ...outcome({ passed: [], failed: listed }), report: undefined }, exceptions)).toEqual(['no conformance report was written']);
    expect(claimProblems({ ...outcome({ passed: [], failed: listed }), report: { ...outcome({ passed: [], failed: [] }).report!, profiles: [] } }, exceptions)).toEqual([`the report has no ${PROFILE} profile`]);
    const setup = 'Error Trace:\thelpers.go:141\nMessages:   \terror waiting for portico GatewayClass to have Accepted condition to be set';
    expect(claimProblems({ ...outcome({ passed: [], failed: listed }, [], setup), report: { ...outcome({ passed: [], failed: [] }).report!, profiles: null as never } }, exceptions)).toEqual([
      'the suite failed before running a test: error waiting for portico GatewayClass to have Accepted condition to be set',
      `the report has no ${PROFILE} profile`,
    ]);
  });

  it('breaks when a listed exception passes (the list must stay true)', () => {
    // An unlisted test passing is simply a pass.
    expect(claimProblems(outcome({ passed: ['HTTPRouteSimpleSameNamespace'], failed: listed }), exceptions)).toEqual([]);
    for (const name of listed) {
      expect(claimProblems(outcome({ passed: [name], failed: listed.filter((n) => n !== name) }), exceptions)).toEqual([`Core test ${name} passes: take it off CORE_EXCEPTIONS`]);
    }
  });

  it('summarizes the numbers, failures and unclaimed features', () => {
    const text = summarize(outcome({ passed: ['A', 'B'], failed: ['C'] }), '/tmp/report.yaml');
    expect(text).toContain('Gateway API conformance v1.6.3 (standard channel), GATEWAY-HTTP, in 61 s: 2 passed, 1 failed, 0 skipped');
    expect(text).toContain('Core: failure (2 passed, 1 failed, 0 skipped)');
    expect(text).toContain('Core failed: C');
    expect(text).toContain('Not claimed: HTTPRouteQueryParamMatching');
    expect(text).toContain('Report: /tmp/report.yaml');
  });

  it('refuses bad usage with exit 2 and one line naming the option, before starting anything', async () => {
    const unknown = await cli(['--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("Unknown option '--bogus'");
    const timeout = await cli(['--timeout-min', '0']);
    expect(timeout.code).toBe(2);
    expect(timeout.stderr).toContain('--timeout-min must be a whole number of minutes from 1 to 180, got "0"');
    expect((await cli(['--timeout-min', '1e9'])).code).toBe(2);
    const feature = await cli(['--try-features', 'HTTPRouteQueryParamMatching,x;rm -rf']);
    expect(feature.code).toBe(2);
    expect(feature.stderr).toContain('--try-features: "x;rm -rf" is not a feature name');
    // A report nobody could write was found out only after the whole run.
    const nowhere = await cli(['--report', '/nonexistent-portico-dir/report.yaml']);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toContain('--report: "/nonexistent-portico-dir" is not a directory');
    const directory = await cli(['--report', tmpdir()]);
    expect(directory.code).toBe(2);
    expect(directory.stderr).toContain('is a directory; name a file');
  });

  it('--help says what every option does', async () => {
    const { code, stdout } = await cli(['--help']);
    expect(code).toBe(0);
    for (const option of ['--report FILE', '--run-test NAME', '--try-features A,B', '--timeout-min N', '--keep']) expect(stdout).toMatch(new RegExp(`^  ${option} +\\S`, 'm'));
  });
});
