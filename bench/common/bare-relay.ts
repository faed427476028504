import { createServer } from 'node:http';
import { Server } from 'socket.io';
import type { AckResponse, BenchClientToServer, BenchServerToClient, OutgoingChatMessage } from './bench-events.js';

/**
 * The baseline: a plain Socket.IO 4 relay with no auth and no persistence. `join` puts a
 * socket in a room; `sendMessage` goes to the room except the sender, then is acked.
 * Prints `BARE_RELAY_PORT=<port>` once listening; GET /mem returns process.memoryUsage().
 */

type AckFn = (response: AckResponse) => void;

const http = createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/mem') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ...process.memoryUsage(), sockets: io.engine.clientsCount }));
    return;
  }
  res.writeHead(req.url === '/health' ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ status: req.url === '/health' ? 'ok' : 'not found' }));
});

const io = new Server<BenchClientToServer, BenchServerToClient>(http, { path: '/socket.io', serveClient: false });

const reply = (ack: unknown, response: AckResponse): void => {
  if (typeof ack === 'function') (ack as AckFn)(response);
};

io.on('connection', (socket) => {
  socket.on('join', (payload: unknown, ack: unknown) => {
    const room = (payload as { room?: unknown } | null)?.room;
    if (typeof room !== 'string' || room.length === 0) return reply(ack, { ok: false, error: { code: 'BAD_REQUEST', message: 'room is required' } });
    void Promise.resolve(socket.join(room)).then(() => reply(ack, { ok: true }));
  });
  socket.on('sendMessage', (payload: unknown, ack: unknown) => {
    const message = payload as Partial<OutgoingChatMessage> | null;
    const room = message?.conversationId;
    if (typeof room !== 'string' || !socket.rooms.has(room)) {
      return reply(ack, { ok: false, error: { code: 'FORBIDDEN', message: 'join the room first' } });
    }
    socket.to(room).emit('messageArrived', message as OutgoingChatMessage);
    reply(ack, { ok: true });
  });
});

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  io.close(() => process.exit(0));
  http.closeAllConnections();
  setTimeout(() => process.exit(0), 2000).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);

http.listen(Number(process.env['BARE_PORT'] ?? 0), '127.0.0.1', () => {
  const address = http.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  console.log(`BARE_RELAY_PORT=${port}`);
});
