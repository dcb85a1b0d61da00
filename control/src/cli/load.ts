/**
 * Loading a manifest directory into a snapshot for the offline commands (explain, snapshot).
 */
import type { BuildOptions } from '../build/index.ts';
import type { ClassSelection } from '../build/ingress-class.ts';
import type { GatewayPorts } from '../build/gateway/listeners.ts';
import { PORTICO_CONTROLLER, skippedForClass } from '../build/ingress-class.ts';
import { PorticoError } from '../errors.ts';
import { parseGatewayAddresses } from '../snapshot/scope.ts';
import type { CompileResult } from '../pipeline.ts';
import { compileState } from '../pipeline.ts';
import { loadManifests } from '../sources/manifests/load.ts';
import type { ManifestProblem } from '../sources/manifests/parse.ts';
import { ClusterState } from '../state/cluster-state.ts';
import type { SnapshotHistoryOptions } from '../publish/history.ts';
import type { Command } from './args.ts';
import { usageError } from './args.ts';

export { skippedForClass } from '../build/ingress-class.ts';

/** The class options every manifest-reading command shares. */
export const CLASS_OPTIONS = {
  'ingress-class': { type: 'string', default: 'portico' },
  'watch-ingress-without-class': { type: 'boolean', default: true },
} as const;

/** The selection the class options describe. */
export function classSelection(values: Record<string, unknown>): ClassSelection {
  return {
    className: String(values['ingress-class'] ?? 'portico'),
    controller: PORTICO_CONTROLLER,
    watchWithoutClass: values['watch-ingress-without-class'] !== false,
  };
}

/** The Gateway listener port options, shared by `standalone` and `control`. */
export const GATEWAY_PORT_OPTIONS = {
  'gateway-http-port': { type: 'string', multiple: true },
  'gateway-https-port': { type: 'string', multiple: true },
  'gateway-address': { type: 'string', multiple: true },
} as const;

/** Their --help lines. */
export const GATEWAY_PORT_HELP = `  --gateway-http-port N            Gateway listener port (protocol HTTP) that reaches the data plane; repeatable
                                   up to 64 (default 80). Listeners on other ports are not accepted (PortUnavailable).
  --gateway-https-port N           The same for HTTPS listeners (default 443).
  --gateway-address ADDR           An address the data planes also listen on (give them the same flag), for one
                                   Gateway alone: its routes are served there and nowhere else, HTTP and HTTPS
                                   apart. Repeatable up to 64; Gateways beyond them share the edge addresses.`;

const MAX_GATEWAY_PORTS = 64;

/** The Gateway listener ports the values ask for, plus `extra` (standalone's own traffic ports). Throws PORTICO_E_USAGE for a bad port. */
export function gatewayPorts(command: Command, values: Record<string, unknown>, extra: { http?: number | undefined; https?: number | undefined } = {}): GatewayPorts {
  const read = (option: string, fallback: number, more: number | undefined): number[] => {
    const given = (values[option] as string[] | undefined) ?? [String(fallback)];
    // Bounded like a Gateway's listeners (64): every port is named in PortUnavailable conditions, whose message the API server caps.
    if (given.length > MAX_GATEWAY_PORTS) usageError(command, `--${option} is given ${given.length} times; at most ${MAX_GATEWAY_PORTS} ports`);
    const ports = given.map((text) => {
      const port = Number(text);
      if (!Number.isInteger(port) || port < 1 || port > 65535) usageError(command, `--${option} must be 1..65535, got ${text}`);
      return port;
    });
    return [...new Set([...ports, ...(more === undefined || more === 0 ? [] : [more])])].sort((a, b) => a - b);
  };
  const ports = { http: read('gateway-http-port', 80, extra.http), https: read('gateway-https-port', 443, extra.https) };
  // A data-plane port speaks plain HTTP or TLS, never both: a listener on it could never be served as declared.
  const both = ports.http.find((port) => ports.https.includes(port));
  if (both !== undefined) {
    const via = (flag: string, own: number | undefined, ownFlag: string) => (own === both ? `${flag} or ${command.name}'s ${ownFlag}` : flag);
    usageError(command, `port ${both} is both a Gateway HTTP listener port (${via('--gateway-http-port', extra.http, '--http-port')}) and an HTTPS one (${via('--gateway-https-port', extra.https, '--https-port')}); a port serves one of them`);
  }
  const addresses = parseGatewayAddresses((values['gateway-address'] as string[] | undefined) ?? []);
  if (typeof addresses === 'string') usageError(command, addresses);
  return addresses.length === 0 ? ports : { ...ports, addresses };
}

/** The history memory option, shared by `standalone` and `control`. */
export const HISTORY_OPTIONS = {
  'history-memory-mb': { type: 'string', default: '64' },
} as const;

/** Its --help line. */
export const HISTORY_HELP = `  --history-memory-mb N            Memory for older snapshot versions kept in full (for deltas to nodes a few
                                   versions behind, exports, diffs), estimated from their JSON size, beyond the
                                   current version (default 64; at most 8 versions). Older versions are kept as
                                   summaries (410 on export; a node on one gets the full snapshot). deploy/'s
                                   control (512Mi, NODE_OPTIONS heap limits) holds 10,000 Ingresses with this default.`;

/** The history options the values ask for. Throws PORTICO_E_USAGE (via `usageError`) for a bad number. */
export function historyOptions(command: Command, values: Record<string, unknown>): SnapshotHistoryOptions {
  const mb = Number(values['history-memory-mb']);
  if (!Number.isFinite(mb) || mb < 0 || mb > 65536) usageError(command, `--history-memory-mb must be 0..65536, got ${String(values['history-memory-mb'])}`);
  return { memoryBudgetBytes: Math.round(mb * 1024 * 1024) };
}

/** Formats a manifest problem as `severity: file[:line:column] (document N) field: message [code]`. */
export function formatProblem(problem: ManifestProblem): string {
  const at = problem.line === undefined ? '' : `:${problem.line}:${problem.column ?? 1}`;
  return `${problem.severity}: ${problem.file}${at} (document ${problem.document})${problem.field ? ` ${problem.field}` : ''}: ${problem.message} [${problem.code}]`;
}


/**
 * Loads, builds and compiles a manifest directory; `state` is the objects read. Throws
 * PORTICO_E_MANIFEST_READ when it cannot be read at all.
 */
export async function compileManifests(dir: string, selection: ClassSelection, options: BuildOptions = {}): Promise<CompileResult & { problems: readonly ManifestProblem[]; skippedForClass: number; state: ClusterState }> {
  let loaded;
  try {
    loaded = await loadManifests(dir);
  } catch (error) {
    throw new PorticoError('PORTICO_E_MANIFEST_READ', `cannot read manifests at ${dir}: ${(error as Error).message}`, { cause: error });
  }
  const state = ClusterState.from(loaded.objects);
  return { ...compileState(state, selection, undefined, options), problems: loaded.problems, skippedForClass: skippedForClass(state, selection).count, state };
}
