/**
 * The upstream Gateway API conformance suite (sigs.k8s.io/gateway-api/conformance, unmodified,
 * profile GATEWAY-HTTP) against Portico on the test cluster, through the real interface:
 * `npm run conformance:gateway -- --report FILE` run as a process (test/conformance/gateway.ts).
 * It must write the official ConformanceReport for Portico, and the claims of
 * test/conformance/claims.ts must hold: every Core test passes but the listed exceptions (each
 * with its reason, and each really failing), every test of a claimed Extended feature passes.
 *
 * Bounded: the suite's own timeouts (some shortened), `--timeout-min 40`, and this test's timeout.
 * Traffic goes only to 127.0.0.1 and the cluster's 10.217.N.0/24.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { ConformanceReport } from '../conformance/gateway-conformance.ts';
import { CLAIMED_EXTENDED_FEATURES, CORE_EXCEPTIONS, PROFILE } from '../conformance/claims.ts';

const script = new URL('../conformance/gateway.ts', import.meta.url).pathname;

describe('Gateway API conformance (GATEWAY-HTTP) against Portico on the test cluster', () => {
  const work = mkdtempSync(join(tmpdir(), 'portico-gwconf-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes the official report, and the claims hold: Core passes but the listed exceptions, claimed Extended features pass', async () => {
    const reportFile = join(work, 'report.yaml');
    const started = Date.now();
    const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [script, '--report', reportFile, '--timeout-min', '40'], { maxBuffer: 64 << 20, timeout: 45 * 60_000 }, (error, out, err) => {
        resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout: out, stderr: err });
      });
    });
    console.log(`${stdout}\n(conformance run: ${Math.round((Date.now() - started) / 1000)} s)`);
    expect(code, `${stdout}\n${stderr.slice(-4000)}`).toBe(0);

    const report = parse(readFileSync(reportFile, 'utf8')) as ConformanceReport;
    expect(report).toMatchObject({ kind: 'ConformanceReport', gatewayAPIChannel: 'standard', mode: 'default', implementation: { project: 'portico' } });
    expect(report.gatewayAPIVersion).toMatch(/^v1\.\d+\.\d+$/);
    const profile = report.profiles?.find((p) => p.name === PROFILE);
    expect(profile, 'the report has the profile').toBeDefined();
    expect([...(profile!.core.failedTests ?? [])].sort()).toEqual(Object.keys(CORE_EXCEPTIONS).sort());
    expect(profile!.core.statistics.Passed).toBeGreaterThan(0);
    expect(profile!.extended?.failedTests ?? []).toEqual([]);
    expect([...(profile!.extended?.supportedFeatures ?? [])].sort()).toEqual([...CLAIMED_EXTENDED_FEATURES].sort());
  }, 46 * 60_000);
});
