import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { inspect } from '../../src/backup/backup.js';
import { BackupError } from '../../src/errors.js';
import { remoteTuning, resetRemoteTuning } from '../../src/db/hrana/config.js';

// A server that accepts connections and never answers: the command must fail on its own, naming the host.
let server: Server;
let port = 0;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = createServer((s) => void sockets.push(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as { port: number }).port;
  // The defaults are 7 s per attempt, ~30 s in all; the same logic, scaled down.
  Object.assign(remoteTuning, { firstContactTimeoutMs: 300, retryBudgetMs: 1_000 });
});

afterAll(async () => {
  resetRemoteTuning();
  for (const s of sockets) s.destroy();
  await new Promise<void>((r) => server.close(() => r()));
});

it('a silent host fails after the first-contact timeouts, naming the host and never the token', async () => {
  const started = Date.now();
  const err = await inspect({ url: `http://127.0.0.1:${port}`, authToken: 'tok-SECRET-123' }).catch((e) => e);
  expect(err).toBeInstanceOf(BackupError);
  expect(err.message).toContain(`127.0.0.1:${port}`);
  expect(err.message).not.toContain('tok-SECRET-123');
  expect(Date.now() - started).toBeLessThan(5_000);
});
