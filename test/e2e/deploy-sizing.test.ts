// The control Deployment's memory, as shipped in deploy/base/control.yaml: the V8 heap limits its
// NODE_OPTIONS set, the snapshot history's budget (--history-memory-mb, the CLI's default unless
// the args set it) and the container's memory limit must agree, so the control plane at the scale
// the README sizes it for (10,000 Ingresses, 100 nodes) fits its limit with the history full.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HISTORY_OPTIONS } from '@portico/control/cli/load';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import type { Container, K8sObject } from '../support/workloads.ts';
import { REPO } from '../support/workloads.ts';

const MiB = 2 ** 20;
/** Live V8 heap of `portico standalone` at 10,000 Ingresses with 100 nodes syncing, from a heap snapshot (README, bench:fleet). */
const LIVE_HEAP_AT_10K = 170 * MiB;
/** What the process holds beside the V8 heap (code, the wasm matcher, native buffers), from /proc/PID/smaps at the same scale. */
const NON_HEAP = 128 * MiB;

/** A Kubernetes memory quantity (`512Mi`, `1Gi`) in bytes. */
function bytes(text: string): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(text);
  if (match === null) throw new Error(`memory quantity ${text} not understood here`);
  return Number(match[1]) * (match[2] === 'Gi' ? 2 ** 30 : MiB);
}

/** `--name=N` (MiB) from a NODE_OPTIONS string, or undefined. */
function mebibytes(options: string, name: string): number | undefined {
  const match = new RegExp(`(?:^|\\s)--${name}=(\\d+)(?:\\s|$)`).exec(options);
  return match === null ? undefined : Number(match[1]) * MiB;
}

async function controlContainer(): Promise<Container> {
  const docs = parseAllDocuments(await readFile(join(REPO, 'deploy/base/control.yaml'), 'utf8')).map((doc) => doc.toJS() as K8sObject);
  const deployment = docs.find((doc) => doc.kind === 'Deployment')!;
  return deployment.spec!.template!.spec.containers.find((container) => container.name === 'control')!;
}

describe('deploy/base/control.yaml sizing', () => {
  it('gives V8 a heap that holds 10k Ingresses plus the full history budget, inside the memory limit', async () => {
    const container = await controlContainer();
    const limit = bytes(container.resources!.limits!.memory!);
    const options = container.env?.find((variable) => variable.name === 'NODE_OPTIONS')?.value ?? '';
    const oldSpace = mebibytes(options, 'max-old-space-size');
    const semiSpace = mebibytes(options, 'max-semi-space-size');
    // Without them V8 sizes its heap for the node's whole memory, not the container's limit.
    expect(oldSpace, 'NODE_OPTIONS sets --max-old-space-size').toBeDefined();
    expect(semiSpace, 'NODE_OPTIONS sets --max-semi-space-size').toBeDefined();
    const historyArg = (container.args ?? []).find((arg) => arg.startsWith('--history-memory-mb='));
    const history = Number(historyArg?.split('=')[1] ?? HISTORY_OPTIONS['history-memory-mb'].default) * MiB;
    // The young generation is two semi-spaces plus about one more for new large objects.
    expect(oldSpace! + 3 * semiSpace! + NON_HEAP).toBeLessThanOrEqual(limit);
    expect(LIVE_HEAP_AT_10K + history).toBeLessThanOrEqual(oldSpace!);
    expect(bytes(container.resources!.requests!.memory!)).toBeLessThanOrEqual(limit);
  });
});
