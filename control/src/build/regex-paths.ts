/**
 * Build-stage checks for routes on regex hosts (use-regex / rewrite-target): the path must be a
 * regex Portico runs (RE2, bounded; see ../snapshot/regex.ts), and a rewrite-target's `$n` should
 * name a group the path has.
 */
import type { Condition } from '../model/conditions.ts';
import type { Route } from '../model/types.ts';
import { NGINX_PREFIX } from '../snapshot/policies/module.ts';
import { highestCapture } from '../snapshot/policies/rewrite.ts';
import { compilePathRegex } from '../snapshot/regex.ts';

/**
 * Whether a regex route can be served. Pushes an InvalidPath Error (the path is skipped) when its
 * regex is refused, and an InvalidAnnotation Warning when rewrite-target refers to a group the
 * path does not have (it is empty, as in nginx).
 */
export function regexRouteUsable(route: Route, conditions: Condition[]): boolean {
  const compiled = compilePathRegex(route.path);
  if ('problem' in compiled) {
    conditions.push({ source: route.source, field: `${route.field}.path`, reason: 'InvalidPath', severity: 'Error', message: `regex path ${JSON.stringify(route.path)} ${compiled.problem}; path skipped` });
    return false;
  }
  const target = route.policies?.rewriteTarget;
  if (target !== undefined && highestCapture(target) > compiled.groups) {
    conditions.push({
      source: route.source,
      field: `metadata.annotations['${NGINX_PREFIX}rewrite-target']`,
      reason: 'InvalidAnnotation',
      severity: 'Warning',
      message: `${target} refers to $${highestCapture(target)}, but path ${JSON.stringify(route.path)} (${route.field}) has ${compiled.groups} capture group${compiled.groups === 1 ? '' : 's'}; a missing group is empty, as in nginx`,
    });
  }
  return true;
}
