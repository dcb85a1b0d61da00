/**
 * The demo backend `npm start` runs in place of the Ceph dashboard: a tiny HTTP server on
 * 127.0.0.1:18443 (the address deploy/examples/dashboard.yaml's EndpointSlice points at).
 */
import { createServer } from 'node:http';

const port = Number(process.env.DEMO_BACKEND_PORT ?? 18443);
createServer((request, response) => {
  const body = `Hello from the demo dashboard backend (127.0.0.1:${port}).\nYou asked for ${request.method} ${request.url} on host ${request.headers.host}; Portico sent X-Forwarded-For: ${request.headers['x-forwarded-for']}.\n`;
  response.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) }).end(body);
})
  .on('error', (error: NodeJS.ErrnoException) => {
    // A second `npm start` meets the first one's backend here: say so in one line.
    process.stderr.write(`demo backend: cannot listen on 127.0.0.1:${port}: ${error.code === 'EADDRINUSE' ? 'in use (is `npm start` already running?)' : error.message}\n`);
    process.exit(1);
  })
  .listen(port, '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
