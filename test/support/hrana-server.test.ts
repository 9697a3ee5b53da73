import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type Client } from '@libsql/client';
import { startHranaServer, type HranaServer, type HranaServerOptions } from './hrana-server.ts';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDb(): string {
  const dir = mkdtempSync(join(tmpdir(), 'hrana-server-test-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'data.db');
}

async function setup(opts: Partial<HranaServerOptions> = {}, authToken = opts.token): Promise<{ server: HranaServer; client: Client }> {
  const server = await startHranaServer({ db: tempDb(), ...opts });
  cleanups.push(() => server.close());
  const client = createClient({ url: server.url, authToken, intMode: 'bigint' });
  cleanups.push(() => client.close());
  return { server, client };
}

/** Posts a raw Hrana pipeline body, for protocol details the client hides. */
async function pipeline(server: HranaServer, body: unknown, version = 2): Promise<Response> {
  return fetch(`${server.url}/v${version}/pipeline`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

const execute = (sql: string, args: unknown[] = []) => ({ type: 'execute', stmt: { sql, args, want_rows: true } });

describe('values and statements through @libsql/client', () => {
  it('round-trips int64, REAL, blob, unicode and NUL-containing text exactly', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(id INTEGER PRIMARY KEY, i, r, b, s)');
    const blob = new Uint8Array([0, 1, 2, 253, 254, 255, 10]);
    const text = 'héllo ✓ 🎉 \u0000 after-nul';
    const ins = await client.execute({
      sql: 'INSERT INTO t(i, r, b, s) VALUES (?, ?, ?, ?)',
      args: [9223372036854775807n, 1.0, blob, text],
    });
    expect(ins.rowsAffected).toBe(1);
    expect(ins.lastInsertRowid).toBe(1n);

    const rs = await client.execute('SELECT i, typeof(i), r, typeof(r), b, s, length(CAST(s AS BLOB)) FROM t');
    const row = rs.rows[0]!;
    expect(row[0]).toBe(9223372036854775807n);
    expect(row[1]).toBe('integer');
    expect(row[2]).toBe(1); // REAL stays a JS number even when integral
    expect(typeof row[2]).toBe('number');
    expect(row[3]).toBe('real');
    expect(new Uint8Array(row[4] as ArrayBuffer)).toEqual(blob);
    expect(row[5]).toBe(text);
    expect(row[6]).toBe(BigInt(Buffer.byteLength(text)));
    expect(rs.columns).toEqual(['i', 'typeof(i)', 'r', 'typeof(r)', 'b', 's', 'length(CAST(s AS BLOB))']);
    expect(rs.rowsAffected).toBe(0);
    expect(rs.lastInsertRowid).toBeUndefined();
  });

  it('binds JS numbers as REAL and bigints as INTEGER, named args too', async () => {
    const { client } = await setup();
    const rs = await client.execute({ sql: 'SELECT typeof(:a), typeof(:b), :a + :b', args: { a: 2, b: 3n } });
    expect(rs.rows[0]).toMatchObject({ 0: 'real', 1: 'integer', 2: 5 });
  });

  it('reports declared column types and keeps duplicate column names apart', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(a INTEGER, b TEXT)');
    await client.execute("INSERT INTO t VALUES (1, 'x')");
    const rs = await client.execute('SELECT a, b, a FROM t ORDER BY a');
    expect(rs.columnTypes).toEqual(['INTEGER', 'TEXT', 'INTEGER']);
    expect(Array.from(rs.rows[0]!)).toEqual([1n, 'x', 1n]);
  });

  it('maps SQLite errors like sqld', async () => {
    const { client } = await setup();
    await expect(client.execute('SELECT * FROM missing')).rejects.toMatchObject({
      code: 'SQL_INPUT_ERROR',
      message: expect.stringContaining('no such table: missing'),
    });
    await expect(client.execute('SELEC 1')).rejects.toMatchObject({ code: 'SQL_PARSE_ERROR' });
    await expect(client.execute('SELECT 1; SELECT 2')).rejects.toMatchObject({ code: 'SQL_MANY_STATEMENTS' });
    await expect(client.execute('VACUUM')).rejects.toMatchObject({
      code: 'SQL_PARSE_ERROR',
      message: expect.stringContaining('unsupported statement'),
    });
    await expect(client.execute({ sql: 'SELECT ?', args: [] })).rejects.toMatchObject({ code: 'ARGS_INVALID' });
  });

  it('has foreign keys enabled on every connection', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE p(id INTEGER PRIMARY KEY)');
    await client.execute('CREATE TABLE c(pid INTEGER REFERENCES p(id))');
    expect((await client.execute('PRAGMA foreign_keys')).rows[0]![0]).toBe(1n);
    await expect(client.execute('INSERT INTO c VALUES (42)')).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT',
      message: expect.stringContaining('FOREIGN KEY constraint failed'),
    });
  });

  it('fails to read a stored Infinity like sqld (non-finite floats serialise as null)', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE f(x REAL)');
    await client.execute('INSERT INTO f VALUES (9e999)');
    expect((await client.execute('SELECT count(*) FROM f WHERE x > 1e308')).rows[0]![0]).toBe(1n);
    await expect(client.execute('SELECT x FROM f')).rejects.toMatchObject({ code: 'HRANA_PROTO_ERROR' });
  });

  it('fails oversized responses with RESPONSE_TOO_LARGE', async () => {
    const { client } = await setup({ maxResponseBytes: 2_000 });
    await client.execute('CREATE TABLE big AS SELECT 1 AS x, hex(zeroblob(100)) AS y FROM (VALUES (1),(2),(3),(4),(5),(6),(7),(8),(9),(10))');
    await expect(client.execute('SELECT * FROM big')).rejects.toMatchObject({ code: 'RESPONSE_TOO_LARGE' });
    expect((await client.execute('SELECT * FROM big LIMIT 3')).rows).toHaveLength(3);
  });
});

describe('batches and transactions', () => {
  it('runs a batch atomically and rolls back when a step fails', async () => {
    const { client } = await setup();
    const results = await client.batch(
      [
        'CREATE TABLE t(x INTEGER UNIQUE)',
        { sql: 'INSERT INTO t VALUES (?)', args: [1n] },
        { sql: 'INSERT INTO t VALUES (?)', args: [2n] },
        'SELECT count(*) FROM t',
      ],
      'write',
    );
    expect(results[3]!.rows[0]![0]).toBe(2n);
    await expect(
      client.batch(
        [
          { sql: 'INSERT INTO t VALUES (?)', args: [3n] },
          { sql: 'INSERT INTO t VALUES (?)', args: [1n] },
        ],
        'write',
      ),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT' });
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(2n);
  });

  it('supports transaction("read"), which sqld runs as a deferred transaction', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(x)');
    await client.execute('INSERT INTO t VALUES (1)');
    const tx = await client.transaction('read');
    expect((await tx.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);
    // libsql parses READONLY as DEFERRED (parse.y "FIXME"), so sqld lets this write through.
    await tx.execute('INSERT INTO t VALUES (2)');
    await tx.rollback();
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);
  });

  it('commits interactive write transactions and keeps them isolated until then', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(x)');
    const tx = await client.transaction('write');
    await tx.execute('INSERT INTO t VALUES (1)');
    await tx.batch(['INSERT INTO t VALUES (2)', 'INSERT INTO t VALUES (3)']);
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
    await tx.commit();
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(3n);
  });

  it('supports migrate() and executeMultiple()', async () => {
    const { client } = await setup();
    await client.migrate([
      'CREATE TABLE p(id INTEGER PRIMARY KEY)',
      'CREATE TABLE c(pid INTEGER REFERENCES p(id))',
      'INSERT INTO c VALUES (7)', // allowed: migrate() turns foreign keys off around its batch
    ]);
    await client.executeMultiple(`
      INSERT INTO p VALUES (7);
      CREATE TRIGGER tr AFTER INSERT ON p BEGIN INSERT INTO c VALUES (NEW.id); END;
      INSERT INTO p VALUES (8);
    `);
    expect((await client.execute('SELECT count(*) FROM c')).rows[0]![0]).toBe(2n);
    expect((await client.execute('PRAGMA foreign_keys')).rows[0]![0]).toBe(1n);
  });
});

describe('locking', () => {
  it('waits for a locked database asynchronously, so the lock holder can still commit', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(x)');
    const tx = await client.transaction('write');
    await tx.execute('INSERT INTO t VALUES (1)');
    const blocked = client.execute('INSERT INTO t VALUES (2)');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await tx.commit();
    await blocked;
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(2n);
  });

  it('serves many concurrent writers, each on its own stream', async () => {
    const { client } = await setup();
    await client.execute('CREATE TABLE t(x)');
    const inserts = Array.from({ length: 40 }, (_, i) => client.execute({ sql: 'INSERT INTO t VALUES (?)', args: [BigInt(i)] }));
    await Promise.all(inserts);
    expect((await client.execute('SELECT count(*), sum(x) FROM t')).rows[0]).toMatchObject({ 0: 40n, 1: 780n });
  });

  it('gives up with SQLITE_BUSY after busyTimeoutMs', async () => {
    const { client } = await setup({ busyTimeoutMs: 200 });
    await client.execute('CREATE TABLE t(x)');
    const tx = await client.transaction('write');
    await tx.execute('INSERT INTO t VALUES (1)');
    await expect(client.execute('INSERT INTO t VALUES (2)')).rejects.toMatchObject({
      code: 'SQLITE_BUSY',
      message: expect.stringContaining('database is locked'),
    });
    await tx.rollback();
  });
});

describe('streams, auth and fault injection', () => {
  it('requires the bearer token and answers 401 quickly otherwise', async () => {
    const { client } = await setup({ token: 's3cret' });
    await client.execute('SELECT 1');
    const started = Date.now();
    const { client: wrong } = await setup({ token: 's3cret' }, 'nope');
    await expect(wrong.execute('SELECT 1')).rejects.toMatchObject({
      code: 'SERVER_ERROR',
      message: expect.stringContaining('401'),
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    const { server } = await setup({ token: 's3cret' });
    const res = await pipeline(server, { requests: [execute('SELECT 1')] });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'Unauthorized: `Expected authorization header but none given`' });
  });

  it('expires idle streams: the next request gets STREAM_EXPIRED and the transaction is gone', async () => {
    const { client } = await setup({ streamIdleMs: 300 });
    await client.execute('CREATE TABLE t(x)');
    const tx = await client.transaction('write');
    await tx.execute('INSERT INTO t VALUES (1)');
    await new Promise((resolve) => setTimeout(resolve, 800));
    await expect(tx.execute('INSERT INTO t VALUES (2)')).rejects.toMatchObject({ code: 'STREAM_EXPIRED' });
    tx.close();
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
    // The write lock went away with the expired connection.
    await client.execute('INSERT INTO t VALUES (3)');
  });

  it('rotates batons and rejects a reused one like sqld', async () => {
    const { server } = await setup();
    const first = await (await pipeline(server, { requests: [execute('SELECT 1')] })).json();
    expect(first.baton).toMatch(/^[A-Za-z0-9+/]{64}$/);
    const second = await (await pipeline(server, { baton: first.baton, requests: [execute('SELECT 2')] })).json();
    expect(second.baton).not.toBe(first.baton);
    const reused = await pipeline(server, { baton: first.baton, requests: [execute('SELECT 3')] });
    expect(reused.status).toBe(400);
    expect(await reused.text()).toBe('Received a baton that has already been used');
    const closed = await (await pipeline(server, { baton: second.baton, requests: [{ type: 'close' }] })).json();
    expect(closed).toEqual({ baton: null, base_url: null, results: [{ type: 'ok', response: { type: 'close' } }] });
  });

  it('fails every Nth request with HTTP 503 before executing it', async () => {
    const { server, client } = await setup({ failEvery: 2 });
    await client.execute('CREATE TABLE t(x)');
    await expect(client.execute('INSERT INTO t VALUES (1)')).rejects.toMatchObject({
      code: 'SERVER_ERROR',
      message: expect.stringContaining('503'),
    });
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(0n);
    expect(server.stats).toEqual({ requests: 3, failed: 1 });
  });

  it('can execute first and lose the response (failAfterExecute), or reset the socket', async () => {
    const { client } = await setup({ failEvery: 2, failAfterExecute: true });
    await client.execute('CREATE TABLE t(x)');
    await expect(client.execute('INSERT INTO t VALUES (1)')).rejects.toMatchObject({ code: 'SERVER_ERROR' });
    expect((await client.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n);

    const { client: resetting } = await setup({ failEvery: 1, failMode: 'reset' });
    await expect(resetting.execute('SELECT 1')).rejects.toThrow();
  });

  it('delays requests by latencyMs', async () => {
    const { client } = await setup({ latencyMs: 250 });
    const started = performance.now();
    await client.execute('SELECT 1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(240);
  });
});

describe('raw protocol details', () => {
  it('serves the version index, health and version endpoints', async () => {
    const { server } = await setup();
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/version`)).text()).toMatch(/^sqld /);
    expect(await (await fetch(`${server.url}/v2`)).text()).toBe('Hello, this is HTTP API v2 (Hrana over HTTP)');
    expect((await fetch(`${server.url}/v3`)).status).toBe(200);
    expect((await fetch(`${server.url}/v3-protobuf`)).status).toBe(404);
  });

  it('encodes values like sqld (integers as strings, floats as numbers, unpadded base64)', async () => {
    const { server } = await setup();
    const body = await (await pipeline(server, { requests: [execute("SELECT 1, 1.0, x'0102', 'é', NULL")] })).json();
    const result = body.results[0].response.result;
    expect(result.rows[0]).toEqual([
      { type: 'integer', value: '1' },
      { type: 'float', value: 1 },
      { type: 'blob', base64: 'AQI' },
      { type: 'text', value: 'é' },
      { type: 'null' },
    ]);
    expect(result).toMatchObject({ affected_row_count: 0, last_insert_rowid: null, replication_index: null });
    expect(typeof result.query_duration_ms).toBe('number');
  });

  it('gates v3 features by endpoint version and streams NDJSON from /v3/cursor', async () => {
    const { server } = await setup();
    const v2 = await pipeline(server, { requests: [{ type: 'get_autocommit' }] }, 2);
    expect(v2.status).toBe(400);
    const v3 = await (await pipeline(server, { requests: [{ type: 'get_autocommit' }, { type: 'close' }] }, 3)).json();
    expect(v3.results[0]).toEqual({ type: 'ok', response: { type: 'get_autocommit', is_autocommit: true } });
    const cond = { type: 'not', cond: { type: 'is_autocommit' } };
    const steps = [{ stmt: { sql: 'BEGIN' } }, { stmt: { sql: 'SELECT 1' }, condition: cond }, { stmt: { sql: 'ROLLBACK' } }];
    const batchV3 = await (await pipeline(server, { requests: [{ type: 'batch', batch: { steps } }, { type: 'close' }] }, 3)).json();
    expect(batchV3.results[0].response.result.step_results.map((r: unknown) => r !== null)).toEqual([true, true, true]);
    expect((await pipeline(server, { requests: [{ type: 'batch', batch: { steps } }] }, 2)).status).toBe(400);

    const res = await fetch(`${server.url}/v3/cursor`, {
      method: 'POST',
      body: JSON.stringify({
        batch: {
          steps: [
            { stmt: { sql: 'SELECT 1 AS one' } },
            { stmt: { sql: 'SELECT * FROM nope' } },
            { stmt: { sql: 'SELECT 2' }, condition: { type: 'ok', step: 1 } },
          ],
        },
      }),
    });
    const lines = (await res.text())
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines[0]).toMatchObject({ base_url: null });
    expect(lines.slice(1).map((e) => e.type)).toEqual(['step_begin', 'row', 'step_end', 'step_error', 'replication_index']);
    expect(lines[2]).toEqual({ type: 'row', row: [{ type: 'integer', value: '1' }] });
  });
});

describe('CLI', () => {
  it('prints a listening line with the URL', async () => {
    const child = spawn('npx', ['tsx', 'test/support/hrana-server.ts', '--db', tempDb(), '--port', '0'], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: true,
    });
    cleanups.push(() => {
      if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGTERM');
    });
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0]!);
      });
      child.on('exit', (code) => reject(new Error(`CLI exited with ${code}: ${out}`)));
    });
    expect(line).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/);
    const url = line.split(' ').at(-1)!;
    const client = createClient({ url });
    cleanups.push(() => client.close());
    expect((await client.execute('SELECT 40 + 2')).rows[0]![0]).toBe(42);
  });
});
