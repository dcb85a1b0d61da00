/**
 * Host and path validation: the checks the API server makes on Ingress objects, repeated here
 * because manifest files and REST writes never went through an API server.
 */
import { compileWholeRegex } from '@portico/assembly/conditions';

const LABEL = '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?';
const SUBDOMAIN = new RegExp(`^${LABEL}(\\.${LABEL})*$`);
const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** Why a host is invalid, or undefined when it is a valid DNS subdomain or `*.` wildcard. */
export function hostProblem(host: string): string | undefined {
  if (host.length > 253) return 'must be at most 253 characters';
  if (host.includes(':')) return 'must not contain a port or be an IPv6 address';
  if (IPV4.test(host)) return 'must be a DNS name, not an IP address';
  const bare = host.startsWith('*.') ? host.slice(2) : host;
  if (bare.includes('*')) return "a wildcard is only allowed as the whole first label ('*.example.com')";
  if (!SUBDOMAIN.test(bare)) return 'must be a lower-case RFC 1123 subdomain (letters, digits, "-" and ".")';
  return undefined;
}

const INVALID_SEQUENCES = ['//', '/./', '/../', '%2f', '%2F'];
const INVALID_SUFFIXES = ['/..', '/.'];

/**
 * Why a path is invalid for Exact/Prefix/ImplementationSpecific, or undefined. Follows the API
 * server's Ingress validation, plus: no whitespace, control characters, `?` or `#`, which can
 * never be part of a request path (`?` is allowed in a `regex` path, where it is a quantifier).
 */
export function pathProblem(path: string, regex = false): string | undefined {
  if (!path.startsWith('/')) return "must be an absolute path starting with '/'";
  if (path.length > 2048) return 'must be at most 2048 characters';
  // In a regex path (use-regex, rewrite-target) `?` is a quantifier, not a query. Control
  // characters are exactly what these classes look for.
  // eslint-disable-next-line no-control-regex
  if (regex ? /[\s\x00-\x1f\x7f#]/.test(path) : /[\s\x00-\x1f\x7f?#]/.test(path)) return regex ? "must not contain whitespace, control characters or '#'" : "must not contain whitespace, control characters, '?' or '#'";
  for (const sequence of INVALID_SEQUENCES) if (path.includes(sequence)) return `must not contain '${sequence}'`;
  for (const suffix of INVALID_SUFFIXES) if (path.endsWith(suffix)) return `must not end with '${suffix}'`;
  return undefined;
}

/** The key under which two Prefix paths are the same rule: trailing slashes are insignificant. */
export function normalizePrefix(path: string): string {
  const trimmed = path.replace(/\/+$/, '');
  return trimmed === '' ? '/' : trimmed;
}

/**
 * `host Exact /p` or `host Prefix /p` (Prefix normalized): two path rules with the same key on
 * the same host are one claim, so the older wins (build) or the write is refused (API).
 */
export function pathClaimKey(host: string, pathType: string, path: string): string {
  return pathType === 'Exact' ? `${host} Exact ${path}` : `${host} Prefix ${normalizePrefix(path)}`;
}

/** Whether a request path falls under a rule (Ingress semantics; the data plane's decision is the matcher's). */
export function pathRuleMatches(pathType: string, rule: string, path: string): boolean {
  if (pathType === 'Exact') return rule === path;
  if (pathType === 'RegularExpression') {
    const regex = compileWholeRegex(rule);
    return typeof regex !== 'string' && regex.matches(path);
  }
  const prefix = normalizePrefix(rule);
  return prefix === '/' || path === prefix || path.startsWith(`${prefix}/`);
}
