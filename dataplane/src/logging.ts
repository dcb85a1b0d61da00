/**
 * The data plane's loggers, shared by the in-process data plane and the worker processes.
 */
import { pino } from 'pino';
import type { Logger } from 'pino';

/** The process logger and, when enabled, the access logger (one JSON line per request on stdout). */
export function makeLoggers(level: string, accessLog: boolean): { logger: Logger; accessLog: Logger | undefined } {
  const logger = pino({ level, base: { component: 'dataplane' } });
  return { logger, accessLog: accessLog ? pino({ base: { component: 'access' } }) : undefined };
}
