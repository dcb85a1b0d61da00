/**
 * Entry point of a data-plane worker process (forked by WorkerPool).
 */
import { makeLoggers } from './logging.ts';
import { runWorker } from './workers.ts';

await runWorker(makeLoggers);
