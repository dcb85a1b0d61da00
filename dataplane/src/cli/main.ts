#!/usr/bin/env node
/**
 * The `portico` bin: control's commands plus the ones that serve traffic. It lives here, at the
 * top of the package graph (dataplane depends on control), so standalone can compose both.
 */
import { main } from '@portico/control/cli';
import { dataplaneCommand } from './dataplane.ts';
import { standaloneCommand } from './standalone.ts';

process.exitCode = await main(process.argv.slice(2), [dataplaneCommand, standaloneCommand]);
