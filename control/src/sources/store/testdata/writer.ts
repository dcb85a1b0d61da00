/**
 * Child process of the kill -9 test: writes routes into the SQLite store in `argv[2]` as fast as
 * it can, printing `ok NAME ETAG` after each write resolved (= committed), until it is killed.
 */
import { SqliteRouteStore } from '../sqlite.ts';

const store = new SqliteRouteStore({ dataDir: process.argv[2]! });
for (let i = 0; ; i++) {
  const name = `r${i}`;
  const stored = await store.put(
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'Ingress',
      metadata: { name, namespace: 'default' },
      spec: { rules: [{ host: `${name}.example.com`, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } }] },
    },
    { ifAbsent: true },
  );
  process.stdout.write(`ok ${name} ${stored.etag}\n`);
}
