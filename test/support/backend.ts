/**
 * A test backend: answers every request with JSON naming the local address and port it was
 * reached on (so a test knows which endpoint served), echoes request bodies on POST, and echoes
 * WebSocket messages. Usage: node backend.ts PORT [ADDRESS]. Prints "listening" when ready.
 */
import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 8443);
const address = process.argv[3] ?? '0.0.0.0';

const server = createServer((request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = JSON.stringify({
      served_by: `${request.socket.localAddress}:${request.socket.localPort}`,
      method: request.method,
      url: request.url,
      host: request.headers.host,
      forwarded_for: request.headers['x-forwarded-for'],
      echo: request.method === 'POST' ? Buffer.concat(chunks).toString('utf8') : undefined,
    });
    response.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) }).end(body);
  });
});
const sockets = new WebSocketServer({ server });
sockets.on('connection', (socket) => socket.on('message', (data, binary) => socket.send(data, { binary })));
server.keepAliveTimeout = 30_000;
server.listen(port, address, () => process.stdout.write('listening\n'));
process.on('SIGTERM', () => process.exit(0));
