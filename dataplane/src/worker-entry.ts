/**
 * Entry point of a data-plane worker process (forked by WorkerPool, workers.ts, the primary's
 * side): runs its own DataPlane and follows the primary's messages. Kept out of workers.ts so the
 * primary, which never serves traffic, does not load the proxy.
 */
import type { TableBundle } from './bundle.ts';
import { TableBlocks } from '@portico/assembly/encode';
import { tableBlocksOf, withTableBlocks } from './bundle.ts';
import { verifyBundleInTurns } from './bundle-verify.ts';
import { DataPlane } from './dataplane.ts';
import type { PorticoError } from './errors.ts';
import type { Logger } from './logging.ts';
import { makeLoggers } from './logging.ts';
import { withoutHeldValues } from './metric-families.ts';
import { SwapReclaimer } from './reclaim.ts';
import { ENV, INDEX_ENV, RECLAIM_AFTER_MB } from './workers.ts';
import type { FromWorker, ToWorker, WorkerOptions } from './workers.ts';
import { applyBundleDelta, deltaBases, keptParts, ownedTable, withTable } from './worker-delta.ts';
import { TextLines } from './text-lines.ts';
import { withEndpointLines, withLabelLines } from '@portico/control/snapshot/bundle';

/** A bundle a worker serves, with its parts' SHA-256 digests (`bundleParts` order). */
interface HeldBundle {
  readonly bundle: TableBundle;
  readonly parts: readonly string[];
}

/** The worker side: start a DataPlane from the primary's options and follow its messages. */
async function runWorker(makeLogger: (level: string, accessLog: boolean) => { logger: Logger; accessLog: Logger | undefined }): Promise<void> {
  const options = JSON.parse(process.env[ENV] ?? '{}') as WorkerOptions;
  const { logger, accessLog } = makeLogger(options.logLevel, options.accessLog);
  const send = (message: FromWorker) => process.send?.(message);
  let dataPlane: DataPlane;
  try {
    // The traffic ports open once the first snapshot is loaded: never a 503 for want of a table.
    dataPlane = await DataPlane.start({ ...options, reusePort: true, deferListen: true, logger, accessLog });
  } catch (error) {
    send({ type: 'start-failed', error: (error as Error).message });
    process.exit(1);
  }
  // The primary handles SIGTERM for the whole group and tells each worker when to shut down.
  process.on('SIGTERM', () => undefined);
  process.on('SIGINT', () => undefined);
  let loads = Promise.resolve();
  // A young collection after every swap; a full one only with --reclaim-after-mb N > 0.
  const reclaimer = new SwapReclaimer((options.reclaimAfterMb ?? RECLAIM_AFTER_MB) * 2 ** 20);
  // The bundle it serves in each mode (full, balancing-only) with its parts' digests: the base of the primary's next delta in that mode.
  const held: [HeldBundle | undefined, HeldBundle | undefined] = [undefined, undefined];
  const faults = options.workerFaults;
  const mine = (fault: { readonly worker: number; readonly version: string } | undefined, version: string) => fault !== undefined && String(fault.worker) === process.env[INDEX_ENV] && fault.version === version;
  process.on('message', (message: ToWorker) => {
    if (message.type === 'bundle' || message.type === 'bundle-delta') {
      // Bundles are taken in the order sent (the primary sends the next only once this one is answered); each is verified a slice per event-loop turn (no copy; of the table, only the blocks it did not hold), then swapped in without compiling (copying only the blocks its reused matcher instance lacks).
      loads = loads.then(async () => {
        const version = message.type === 'bundle' ? message.bundle.version : message.delta.version;
        let bundle: TableBundle;
        let parts: string[] | undefined;
        if (message.type === 'bundle') {
          bundle = message.bundle;
          // The table is a view into the whole message's buffer (texts and all): it gets its own copy.
          const table = bundle.table instanceof Uint8Array ? ownedTable(bundle.table) : undefined;
          if (table !== undefined && table !== bundle.table) withTableBlocks(bundle, TableBlocks.of(table));
          // Its endpoint and label lines, so the deltas after it are read by the lines they touch.
          if (typeof bundle.endpoints === 'string') withEndpointLines(bundle, TextLines.of(bundle.endpoints));
          if (typeof bundle.routeLabels === 'string') withLabelLines(bundle, TextLines.of(bundle.routeLabels));
        }
        else {
          const { delta } = message;
          let base: HeldBundle | undefined;
          try {
            // The bundle it is from (in its mode, or the full one for a first balancing-only bundle) and the one its endpoints are from (the last loaded).
            const bases = deltaBases([held[0]?.bundle, held[1]?.bundle], delta);
            base = held.find((h) => h?.bundle === bases.base)!;
            const endpointsFrom = held.find((h) => h?.bundle === bases.endpointsFrom)!;
            bundle = applyBundleDelta(base.bundle, delta, endpointsFrom.bundle);
            // Parts the delta kept are the held bundles' own, verified when they were loaded: their digests are not computed again.
            let known = keptParts(delta, base.parts, endpointsFrom.parts);
            if (mine(faults?.damageDelta, version)) {
              // In a copy of the first block (the others stay the held ones, their digests known), as a delta applied to a wrong base would give.
              const table = tableBlocksOf(bundle);
              const editor = table.edit();
              editor.set(Uint8Array.of(table.blocks[0]![0]! ^ 0xff), 0);
              bundle = withTable(bundle, editor.done());
              known = [];
            }
            parts = await verifyBundleInTurns(bundle, known);
          } catch (error) {
            // Never a wrong table: the primary sends the whole bundle instead.
            send({ type: 'resync', version, digest: delta.digest, holds: (base ?? held[delta.balancingOnly ? 1 : 0])?.bundle.digest ?? null, error: (error as Error).message });
            return;
          }
        }
        try {
          if (mine(faults?.failLoad, version)) throw new Error(`injected failure of worker ${faults!.failLoad!.worker}`);
          parts ??= await verifyBundleInTurns(bundle);
          dataPlane.loadBundle(bundle, true);
          held[bundle.balancingOnly ? 1 : 0] = { bundle, parts };
        } catch (error) {
          send({ type: 'failed', version, error: (error as Error).message });
          return;
        }
        void dataPlane.listen().then(
          () => {
            send({ type: 'loaded', version, digest: bundle.digest });
            reclaimer.afterSwap(tableBlocksOf(bundle).length);
          },
          // The primary treats this as fatal and shuts every worker down.
          (error: Error) => send({ type: 'failed', version, error: error.message, code: (error as PorticoError).code }),
        );
      });
    } else if (message.type === 'metrics') {
      // The endpoint keys the primary holds (by key) are left out: they cross when they change, not per scrape.
      send({ type: 'metrics', id: message.id, families: withoutHeldValues([...dataPlane.metrics.families(), ...reclaimer.families()], message.have) });
    } else if (message.type === 'shutdown') {
      void dataPlane.close(message.timeoutMs).then(() => process.exit(0));
    }
  });
  send({ type: 'ready', ports: dataPlane.ports });
}

await runWorker(makeLoggers);
