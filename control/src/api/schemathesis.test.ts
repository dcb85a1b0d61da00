/**
 * Schemathesis (PyPI) fuzzes a standalone API instance from its own /openapi.json: no request
 * may get a 5xx, and answers must match the document (status codes, content types, schemas,
 * headers, 405 for undeclared methods). Bounded: few examples per operation, a time budget.
 *
 * `positive_data_acceptance` is left out on purpose: some rules are semantic (a route needs a
 * path or a default backend; an Ingress host must be a DNS name; a path must not contain `/./`)
 * and are answered with 422 and pointers rather than spelled out in JSON Schema.
 */
import { execFileSync, spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TEST_TOKEN, listen, serviceWithEndpoints, testControl } from './test-support.ts';
import type { TestControl } from './test-support.ts';

const VERSION = '4.32.5';

/** Output that reports a problem of the API under test. */
const FINDING = /Server error|not_a_server_error|ST101/;

/** Schemathesis crashing on the interpreter's own bug, not on anything the API answered. */
const TOOL_CRASH = /SystemError: AST constructor recursion depth mismatch/;

/** The schemathesis command, installing it with pip if it is missing; undefined when that fails. */
function findSchemathesis(): string | undefined {
  const probe = () => {
    try {
      execFileSync('schemathesis', ['--version'], { stdio: 'ignore', timeout: 60_000 });
      return 'schemathesis';
    } catch {
      return undefined;
    }
  };
  const found = probe();
  if (found !== undefined) return found;
  try {
    execFileSync('python3', ['-m', 'pip', 'install', '--quiet', `schemathesis==${VERSION}`], { stdio: 'ignore', timeout: 300_000 });
  } catch {
    return undefined;
  }
  return probe();
}

const command = findSchemathesis();
if (command === undefined) console.warn(`schemathesis is not installed and 'python3 -m pip install schemathesis==${VERSION}' failed: skipping the OpenAPI fuzz test`);

describe.skipIf(command === undefined)('schemathesis against /openapi.json (standalone)', () => {
  let control: TestControl;
  let server: Awaited<ReturnType<typeof listen>>;

  beforeAll(async () => {
    // Server errors are logged to stderr, so a failure shows its cause beside schemathesis' report.
    control = await testControl({ objects: serviceWithEndpoints('default', 'web', 80, ['10.0.0.1']), syncTimeoutMs: 500, logger: pino({ level: 'error' }, pino.destination(2)) });
    server = await listen(control.app);
  });
  afterAll(async () => {
    await server?.close();
    control?.close();
  });

  it('finds no server error and no answer that contradicts the document', async () => {
    const args = [
      'run', `${server.url}/openapi.json`,
      '--header', `Authorization: Bearer ${TEST_TOKEN}`,
      '--checks', 'all',
      '--exclude-checks', 'positive_data_acceptance',
      '--max-examples', '25',
      '--max-time', '90',
      '--request-timeout', '5',
      '--seed', '1',
      '--workers', '2',
      '--no-color',
    ];
    const runOnce = () =>
      new Promise<{ code: number | null; output: string }>((resolve) => {
        const child = spawn(command!, args, { cwd: process.env.TMPDIR ?? '/tmp', env: { ...process.env, SCHEMATHESIS_HOOKS: '' } });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
        child.on('close', (exit) => resolve({ code: exit, output }));
      });
    let { code, output } = await runOnce();
    // CPython 3.11 before 3.11.9 can fail inside hypothesis' own source introspection
    // ("AST constructor recursion depth mismatch", a bug of the interpreter, not of the API under
    // test). Only that tool crash, with no finding about the API, earns one more run.
    if (code !== 0 && TOOL_CRASH.test(output) && !FINDING.test(output)) ({ code, output } = await runOnce());
    expect(output).not.toMatch(FINDING);
    expect(code, output.slice(-6000)).toBe(0);
  }, 240_000);
});
