/**
 * `portico nodes`: the data planes a control replica knows and the rollout of the current version.
 */
import type { Command } from './args.ts';
import { CLIENT_OPTIONS, CLIENT_USAGE, ControlClient, shortVersion, table } from './client.ts';

interface NodeList {
  current: string | null;
  rollout: { updated: number; total: number; failed: number; complete: boolean };
  nodes: { name: string; appliedVersion: string | null; lastReport: { version: string; ok: boolean; error: string | null; at: string } | null; lastSeen: string; connected: boolean; stale: boolean }[];
}

/** The nodes command. */
export const nodesCommand: Command = {
  name: 'nodes',
  usage: `
Usage: portico nodes [options]

Lists the data planes that have synced with this control replica: the version each serves,
its last ACK or NACK (with the error), when it was last seen, and the rollout of the current
version (n of m recently seen nodes serve it).

Options:${CLIENT_USAGE}
  -h, --help                       Show this help.
`,
  options: { ...CLIENT_OPTIONS },
  async run(values) {
    const client = await ControlClient.from(values);
    const { body } = await client.json<NodeList>('GET', '/v1/nodes');
    if (values.json === true) {
      process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
      return 0;
    }
    const rows = body.nodes.map((node) => {
      const report = node.lastReport;
      const last = report === null ? '-' : report.ok ? `ACK ${shortVersion(report.version)}` : `NACK ${shortVersion(report.version)}: ${report.error ?? ''}`;
      const state = node.stale ? 'stale' : node.connected ? 'connected' : 'seen';
      return [node.name, shortVersion(node.appliedVersion), node.appliedVersion !== null && node.appliedVersion === body.current ? 'yes' : 'no', state, node.lastSeen, last];
    });
    process.stdout.write(`current ${shortVersion(body.current)}: ${body.rollout.updated} of ${body.rollout.total} nodes${body.rollout.failed > 0 ? `, ${body.rollout.failed} failed` : ''}${body.rollout.complete ? ' (complete)' : ''}\n`);
    if (rows.length > 0) process.stdout.write(`${table(['NODE', 'APPLIED', 'CURRENT', 'STATE', 'LAST SEEN', 'LAST REPORT'], rows)}\n`);
    return 0;
  },
};
