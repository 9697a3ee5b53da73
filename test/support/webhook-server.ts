/**
 * A stand-in receiver for alert webhooks and heartbeat pings, on 127.0.0.1: it records every request (method, path,
 * query, headers, body) and answers as told: 'ok' (200 "ok"), 'error' (500), or 'hang' (reads the request, never
 * answers, until closed). close() destroys hanging connections so a test never waits on them.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type ReceiverMode = 'ok' | 'error' | 'hang';

export interface Received {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
}

export interface WebhookServer {
  /** `http://127.0.0.1:PORT` */
  origin: string;
  requests: Received[];
  mode: ReceiverMode;
  /** Requests whose path starts with `prefix`. */
  to(prefix: string): Received[];
  close(): Promise<void>;
}

export async function startWebhookServer(mode: ReceiverMode = 'ok'): Promise<WebhookServer> {
  const sockets = new Set<Socket>();
  const requests: Received[] = [];
  const state = { mode };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push({
        method: req.method ?? '',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
      });
      if (state.mode === 'hang') return;
      res.writeHead(state.mode === 'ok' ? 200 : 500, { 'content-type': 'text/plain' });
      res.end(state.mode === 'ok' ? 'OK' : 'boom');
    });
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    get mode() {
      return state.mode;
    },
    set mode(m: ReceiverMode) {
      state.mode = m;
    },
    to: (prefix) => requests.filter((r) => r.path.startsWith(prefix)),
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
