/**
 * The control API's certificate as docs/control-api.md has operators generate it (openssl: a CA,
 * and a server certificate it signs for the control Service's DNS names), for tests.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The `portico-control-tls` Secret's data: `ca.crt`, `tls.crt`, `tls.key` (PEM). */
export function controlTlsSecret(dnsNames: readonly string[]): Record<'ca.crt' | 'tls.crt' | 'tls.key', string> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-control-tls-'));
  const file = (name: string) => join(dir, name);
  const openssl = (args: string[]) => execFileSync('openssl', args, { stdio: 'pipe', cwd: dir });
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3650', '-subj', '/CN=portico-control-ca', '-keyout', 'ca.key', '-out', 'ca.crt']);
  openssl(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=portico-control', '-keyout', 'tls.key', '-out', 'tls.csr']);
  writeFileSync(file('ext.cnf'), `subjectAltName=${dnsNames.map((name) => `DNS:${name}`).join(',')}\nextendedKeyUsage=serverAuth\n`);
  openssl(['x509', '-req', '-in', 'tls.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-days', '825', '-extfile', 'ext.cnf', '-out', 'tls.crt']);
  return { 'ca.crt': readFileSync(file('ca.crt'), 'utf8'), 'tls.crt': readFileSync(file('tls.crt'), 'utf8'), 'tls.key': readFileSync(file('tls.key'), 'utf8') };
}
