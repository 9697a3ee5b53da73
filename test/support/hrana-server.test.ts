import { afterEach, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createClient, type Client } from '@libsql/client';
import * as hrana from '@libsql/hrana-client';
import { serdeF64, startHranaServer, type HranaServer, type HranaServerOptions } from './hrana-server.ts';

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
    // sqld routes /v3-protobuf to the same handle_index (http/user/mod.rs); without Protobuf it is unknown.
    expect(await (await fetch(`${server.url}/v3-protobuf`)).text()).toBe('Hello, this is HTTP API v2 (Hrana over HTTP)');
    const { server: jsonOnly } = await setup({ encodings: ['json'] });
    for (const path of ['/v3-protobuf', '/v3-protobuf/pipeline', '/v3-protobuf/cursor']) {
      expect((await fetch(`${jsonOnly.url}${path}`, { method: path === '/v3-protobuf' ? 'GET' : 'POST' })).status).toBe(404);
    }
    expect((await fetch(`${jsonOnly.url}/v3`)).status).toBe(200);
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

// ---------------------------------------------------------------------------------------------
// Hrana 3 over HTTP with Protobuf, driven by the real @libsql/hrana-client at protocol version 3
// ---------------------------------------------------------------------------------------------

interface Exchange {
  method: string;
  path: string;
  requestType: string | null;
  requestBody: Uint8Array;
  status: number;
  contentType: string | null;
  responseBody: Promise<Uint8Array>;
}

/** A client opened like production will (`openHttp(url, jwt, fetch, undefined, 3)`), recording every exchange. */
async function setupV3(opts: Partial<HranaServerOptions> = {}, jwt = opts.token) {
  const server = await startHranaServer({ db: tempDb(), ...opts });
  cleanups.push(() => server.close());
  const exchanges: Exchange[] = [];
  const recordingFetch = async (req: Request): Promise<Response> => {
    const requestBody = new Uint8Array(await req.clone().arrayBuffer());
    const res = await fetch(req);
    const copy = res.clone(); // the client may cancel the original's body
    const { pathname } = new URL(req.url);
    const responseBody = copy.arrayBuffer().then((b) => new Uint8Array(b));
    const requestType = req.headers.get('content-type');
    exchanges.push({
      method: req.method,
      path: pathname,
      requestType,
      requestBody,
      status: res.status,
      contentType: res.headers.get('content-type'),
      responseBody,
    });
    return res;
  };
  const client = hrana.openHttp(server.url, jwt, recordingFetch, undefined, 3);
  client.intMode = 'bigint';
  cleanups.push(() => client.close());
  const stream = client.openStream();
  return { server, client, stream, exchanges };
}

/** A few Protobuf wire helpers for raw requests and checks: independent of both protobufjs and the client. */
const varint = (n: bigint): Buffer => {
  const out: number[] = [];
  do {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    out.push(n ? b | 0x80 : b);
  } while (n);
  return Buffer.from(out);
};
const pb = {
  varint: (no: number, v: number | bigint) => Buffer.concat([varint(BigInt(no << 3)), varint(BigInt(v))]),
  bytes: (no: number, data: Uint8Array | string) => {
    const buf = Buffer.from(data);
    return Buffer.concat([varint(BigInt((no << 3) | 2)), varint(BigInt(buf.length)), buf]);
  },
  msg: (no: number, ...parts: Buffer[]) => pb.bytes(no, Buffer.concat(parts)),
  double: (no: number, x: number) => {
    const b = Buffer.alloc(8);
    b.writeDoubleLE(x);
    return Buffer.concat([varint(BigInt((no << 3) | 1)), b]);
  },
};

type PbField = { no: number; varint?: bigint; bytes?: Buffer; fixed64?: Buffer };

function pbFields(data: Uint8Array): PbField[] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  const read = (): bigint => {
    let v = 0n;
    for (let shift = 0n; ; shift += 7n) {
      const b = buf[pos++]!;
      v |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return v;
    }
  };
  const take = (n: number): Buffer => {
    pos += n;
    return buf.subarray(pos - n, pos);
  };
  const fields: PbField[] = [];
  while (pos < buf.length) {
    const key = Number(read());
    const no = key >> 3;
    if ((key & 7) === 0) fields.push({ no, varint: read() });
    else if ((key & 7) === 1) fields.push({ no, fixed64: take(8) });
    else if ((key & 7) === 2) fields.push({ no, bytes: take(Number(read())) });
    else throw new Error(`unexpected wire type ${key & 7}`);
  }
  return fields;
}

/** The bytes of the first field `no` at each level (a path through nested messages). */
function pbPath(data: Uint8Array, ...nos: number[]): Buffer {
  let cur: Buffer = Buffer.from(data);
  for (const no of nos) {
    const f = pbFields(cur).find((x) => x.no === no);
    if (f?.bytes === undefined) throw new Error(`no message field ${no} on the path ${nos.join('.')}`);
    cur = f.bytes;
  }
  return cur;
}

const pbText = (data: Uint8Array, no: number) =>
  pbFields(data)
    .find((f) => f.no === no)
    ?.bytes?.toString('utf8');

/** Raw request pieces (hrana.proto): Value, Stmt, StreamRequest.execute, PipelineReqBody. */
const raw = {
  float: (x: number) => pb.double(3, x),
  text: (s: string | Buffer) => pb.bytes(4, s),
  stmt: (sql: string, ...args: Buffer[]) => Buffer.concat([pb.bytes(1, sql), ...args.map((a) => pb.bytes(3, a))]),
  execute: (stmt: Buffer) => pb.msg(2, pb.msg(1, stmt)),
  pipeline: (requests: Buffer[], baton?: string) => Buffer.concat([...(baton ? [pb.bytes(1, baton)] : []), ...requests.map((r) => pb.bytes(2, r))]),
};

async function postProtobuf(server: HranaServer, path: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-protobuf', ...headers },
    body: Buffer.from(body),
  });
  return { status: res.status, contentType: res.headers.get('content-type'), body: new Uint8Array(await res.arrayBuffer()) };
}

/** StreamResult → StreamResponse.execute → ExecuteStreamResp.result → StmtResult → its first Row's Values. */
function firstRowValues(pipelineResp: Uint8Array, result = 0): PbField[][] {
  const results = pbFields(pipelineResp).filter((f) => f.no === 3);
  const stmtResult = pbPath(results[result]!.bytes!, 1, 2, 1);
  return pbFields(pbPath(stmtResult, 2)).map((v) => pbFields(v.bytes!));
}

const bytesOf = (v: unknown) => new Uint8Array(v as ArrayBuffer);
const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
/** 17-digit doubles that sqld's JSON parser reads one ULP off (see serdeF64), and a subnormal and the largest double. */
const HARD_FLOATS = [0.09144338512092887, 117.63331139400017, 10587.436593658975, 5e-324, 1.7976931348623157e308];

describe('Hrana 3 over HTTP with Protobuf (@libsql/hrana-client at protocol 3)', () => {
  it('negotiates v3-protobuf and uses it for every request', async () => {
    const { client, stream, exchanges } = await setupV3();
    expect(await client.getVersion()).toBe(3);
    expect((await stream.queryValue('SELECT 40 + 2')).value).toBe(42n);
    expect(exchanges.map((e) => `${e.method} ${e.path} ${e.status} ${e.contentType}`)).toEqual([
      'GET /v3-protobuf 200 text/plain',
      'POST /v3-protobuf/pipeline 200 application/x-protobuf',
    ]);
    expect(exchanges[1]!.requestType).toBe('application/x-protobuf');
  });

  it('round-trips every value class exactly, as arguments and as results', async () => {
    const { stream } = await setupV3();
    const blob = randomBytes(1024 * 1024);
    const text = 'NUL \u0000 inside, héllo ✓ 🎉';
    const args = [null, I64_MIN, I64_MAX, 0n, -0, ...HARD_FLOATS, text, '', new Uint8Array(0), blob];
    for (const x of HARD_FLOATS.slice(0, 3)) expect(serdeF64(x)).not.toBe(x); // the JSON path gets these wrong
    await stream.run('CREATE TABLE t(pos INTEGER PRIMARY KEY, v)');
    for (const [i, v] of args.entries()) await stream.run(['INSERT INTO t VALUES (?, ?)', [BigInt(i), v]]);
    const selected = await stream.queryRow([`SELECT ${args.map(() => '?').join(', ')}`, args]);
    const stored = await stream.query('SELECT v, typeof(v) FROM t ORDER BY pos');
    const types = ['null', 'integer', 'integer', 'integer', 'real', ...HARD_FLOATS.map(() => 'real'), 'text', 'text', 'blob', 'blob'];
    expect(stored.rows.map((r) => r[1])).toEqual(types);
    for (const got of [Array.from(selected.row!), stored.rows.map((r) => r[0])]) {
      for (const [i, want] of args.entries()) {
        if (want instanceof Uint8Array) expect(Buffer.from(bytesOf(got[i])).equals(Buffer.from(want)), `arg ${i}`).toBe(true);
        else expect(Object.is(got[i], want) || got[i] === want, `arg ${i}: ${String(got[i])}`).toBe(true);
      }
    }
  });

  it('sends a leading U+FEFF in TEXT, which hrana-client 0.10 then drops (JSON keeps it)', async () => {
    const { stream, exchanges } = await setupV3();
    const bom = `\uFEFF${'text that starts with a byte order mark '.repeat(3)}`;
    const row = (await stream.queryRow(['SELECT ?, hex(?)', [bom, bom]])).row!;
    expect(row[1]).toBe(Buffer.from(bom).toString('hex').toUpperCase()); // stored intact
    expect(Buffer.from(await exchanges.at(-1)!.responseBody).includes(Buffer.from(bom))).toBe(true); // sent intact
    // encoding/protobuf/decode.js FieldReader.string() decodes with `new TextDecoder()`, which strips a BOM.
    expect(row[0]).toBe(bom.slice(1));
  });

  it("limits response size with sqld's JSON-size estimate in Protobuf too (result_builder.rs, BLOBs by raw length)", async () => {
    const { stream } = await setupV3({ maxResponseBytes: 2_000 });
    // the column `{"name":"zeroblob(1900)","decltype":"null"}` counts 43 bytes, the BLOB its length
    expect(bytesOf((await stream.queryValue('SELECT zeroblob(1900)')).value).length).toBe(1900);
    await expect(stream.queryValue('SELECT zeroblob(1990)')).rejects.toMatchObject({ code: 'RESPONSE_TOO_LARGE' });
  });

  it('carries ±Infinity REALs, which JSON cannot; NaN is never a value (the client refuses it, SQLite stores NULL)', async () => {
    const { server, stream } = await setupV3();
    expect(Array.from((await stream.queryRow('SELECT 9e999, -9e999, 0.0/0.0')).row!)).toEqual([Infinity, -Infinity, null]);
    expect(() => stream.query(['SELECT ?', [NaN]])).toThrow(RangeError); // hrana-client value.js valueToProto
    expect(() => stream.query(['SELECT ?', [Infinity]])).toThrow(RangeError);
    // sqld binds whatever double arrives (stmt.rs proto_value_to_value): ±Infinity stay REAL, NaN becomes NULL.
    const sql = 'SELECT ?1, typeof(?1), ?2, typeof(?2), ?3, typeof(?3)';
    const res = await postProtobuf(
      server,
      '/v3-protobuf/pipeline',
      raw.pipeline([raw.execute(raw.stmt(sql, raw.float(Infinity), raw.float(-Infinity), raw.float(NaN)))]),
    );
    const [inf, , minusInf, , nan, nanType] = firstRowValues(res.body);
    expect(inf![0]!.fixed64!.readDoubleLE()).toBe(Infinity);
    expect(minusInf![0]!.fixed64!.readDoubleLE()).toBe(-Infinity);
    expect(nan).toEqual([{ no: 1, bytes: Buffer.alloc(0) }]); // Value.null: an empty message
    expect(nanType![0]!.bytes!.toString()).toBe('null');
  });

  it('runs batches with ok/error/not/and/or/is_autocommit conditions and reports step errors', async () => {
    const { client, stream } = await setupV3();
    await client.getVersion(); // BatchCond.isAutocommit() needs the negotiated version (http/client.js _ensureVersion)
    const batch = stream.batch(false);
    const count = batch.step();
    const counted = count.query('SELECT count(*) FROM sqlite_schema');
    const failing = batch.step();
    const failed = failing.query('SELECT * FROM nope');
    const ok = hrana.BatchCond.ok(failing);
    const skipped = batch.step().condition(ok).query('SELECT 1');
    const notOk = batch.step().condition(hrana.BatchCond.not(ok)).query('SELECT 2');
    const either = batch
      .step()
      .condition(hrana.BatchCond.or(batch, [ok, hrana.BatchCond.error(failing)]))
      .query('SELECT 3');
    const both = batch
      .step()
      .condition(hrana.BatchCond.and(batch, [hrana.BatchCond.ok(count), ok]))
      .query('SELECT 4');
    const begin = batch.step();
    const begun = begin.run('BEGIN');
    const inTx = batch.step().condition(hrana.BatchCond.isAutocommit(batch)).query('SELECT 5');
    const notAuto = batch
      .step()
      .condition(hrana.BatchCond.not(hrana.BatchCond.isAutocommit(batch)))
      .query('SELECT 6');
    batch.step().run('ROLLBACK');
    await batch.execute();
    expect((await counted)!.rows[0]![0]).toBe(0n);
    await expect(failed).rejects.toMatchObject({ name: 'ResponseError', code: 'SQL_INPUT_ERROR', message: expect.stringContaining('no such table: nope') });
    expect(await skipped).toBeUndefined();
    expect((await notOk)!.rows[0]![0]).toBe(2n);
    expect((await either)!.rows[0]![0]).toBe(3n);
    expect(await both).toBeUndefined();
    expect(await begun).toMatchObject({ affectedRowCount: 0, lastInsertRowid: undefined });
    expect(await inTx).toBeUndefined();
    expect((await notAuto)!.rows[0]![0]).toBe(6n);
  });

  it('supports sequence, describe, store_sql/close_sql and get_autocommit', async () => {
    const { stream } = await setupV3();
    await stream.sequence("CREATE TABLE t(a INTEGER, b TEXT); INSERT INTO t VALUES (1, 'x'); INSERT INTO t VALUES (2, 'y')");
    expect(await stream.describe('SELECT a AS first, b, ?, :named FROM t')).toEqual({
      paramNames: [undefined, ':named'],
      columns: [
        { name: 'first', decltype: 'INTEGER' },
        { name: 'b', decltype: 'TEXT' },
        { name: '?', decltype: undefined },
        { name: ':named', decltype: undefined },
      ],
      isExplain: false,
      isReadonly: true,
    });
    expect(await stream.describe('EXPLAIN SELECT 1')).toMatchObject({ isExplain: true });
    expect(await stream.describe('INSERT INTO t VALUES (1, 2)')).toMatchObject({ isExplain: false, isReadonly: false });
    // sqld keeps at most 50 stored SQL texts per stream: closing one must free its slot there.
    const sqls = Array.from({ length: 50 }, (_, i) => stream.storeSql(`SELECT ${i} + ?`));
    sqls[7]!.close();
    const extra = stream.storeSql('SELECT a FROM t WHERE b = ?');
    expect((await stream.queryValue([extra, ['y']])).value).toBe(2n);
    expect((await stream.queryValue([sqls[49]!, [1n]])).value).toBe(50n);
    expect(await stream.getAutocommit()).toBe(true);
    await stream.run('BEGIN');
    expect(await stream.getAutocommit()).toBe(false);
    await stream.run('ROLLBACK');
  });

  it('fails a stored SQL text beyond the 50th like sqld (SQL_STORE_TOO_MANY closes the client stream)', async () => {
    const { stream } = await setupV3();
    for (let i = 0; i < 51; i++) stream.storeSql(`SELECT ${i}`);
    // The 51st store_sql fails inside the same pipeline as this query, which still succeeds...
    expect((await stream.queryValue('SELECT 1')).value).toBe(1n);
    // ...and the client closes the stream with that error (stream.js storeSql()).
    await expect(stream.query('SELECT 2')).rejects.toMatchObject({
      name: 'ClosedError',
      cause: { name: 'ResponseError', code: 'SQL_STORE_TOO_MANY' },
    });
  });

  it('keeps a stream across requests by baton and refuses a replayed baton as in JSON mode', async () => {
    const { server, stream, exchanges } = await setupV3();
    await stream.run('CREATE TABLE t(x)');
    await stream.run('BEGIN');
    await stream.run(['INSERT INTO t VALUES (?)', [1n]]);
    expect(await stream.getAutocommit()).toBe(false); // the same connection across four requests
    const posts = exchanges.filter((e) => e.method === 'POST');
    expect(pbText(posts[2]!.requestBody, 1)).toMatch(/^[A-Za-z0-9+/]{64}$/); // PipelineReqBody.baton
    const replay = await postProtobuf(server, '/v3-protobuf/pipeline', posts[2]!.requestBody);
    expect(replay).toEqual({ status: 400, contentType: 'text/plain', body: new Uint8Array(Buffer.from('Received a baton that has already been used')) });
    await stream.run('COMMIT');
    expect((await stream.queryValue('SELECT count(*) FROM t')).value).toBe(1n);
  });

  it('reports STREAM_EXPIRED as sqld does, which hrana-client 0.10 can only see as "HTTP status 400"', async () => {
    const { stream, exchanges } = await setupV3({ streamIdleMs: 300 });
    await stream.run('CREATE TABLE t(x)');
    await stream.run('BEGIN');
    await stream.run('INSERT INTO t VALUES (1)');
    await new Promise((resolve) => setTimeout(resolve, 800));
    // http/stream.js errorFromResponse() reads only application/json and text/plain bodies.
    const err = await stream.run('INSERT INTO t VALUES (2)').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(hrana.HttpServerError);
    expect(err).toMatchObject({ status: 400, message: 'Server returned HTTP status 400' });
    expect(err).not.toHaveProperty('code');
    const expired = exchanges.at(-1)!;
    expect([expired.status, expired.contentType]).toEqual([400, 'application/x-protobuf']);
    const body = await expired.responseBody; // Error { message = 1, code = 2 }
    expect([pbText(body, 1), pbText(body, 2)]).toEqual(['The stream has expired due to inactivity', 'STREAM_EXPIRED']);
    // (In JSON the same error is a ResponseError with code STREAM_EXPIRED: see 'expires idle streams' above.)
  });

  it('streams a cursor batch; the client chokes on the final entry sqld always sends', async () => {
    const { stream, exchanges } = await setupV3();
    await stream.run('CREATE TABLE t(x)');
    await stream.run('INSERT INTO t VALUES (10), (20), (30)');
    const batch = stream.batch(true);
    const rows = batch.step().query('SELECT x FROM t ORDER BY x');
    const failing = batch.step();
    const failed = failing.query('SELECT * FROM nope');
    const skipped = batch.step().condition(hrana.BatchCond.ok(failing)).query('SELECT 1');
    const inserted = batch.step().run(['INSERT INTO t VALUES (?)', [40n]]);
    // sqld ends every cursor with CursorEntry::ReplicationIndex (hrana/cursor.rs finish()), an empty message when
    // there is no index; shared/protobuf_decode.js reads it as type "none" and batch.js executeCursor() throws.
    await expect(batch.execute()).rejects.toMatchObject({ name: 'ProtoError', message: 'Server produced unrecognized CursorEntry' });
    expect((await rows)!.rows.map((r) => r[0])).toEqual([10n, 20n, 30n]);
    await expect(failed).rejects.toMatchObject({ code: 'SQL_INPUT_ERROR' });
    expect(await skipped).toBeUndefined();
    // StepEndEntry.last_insert_rowid is a sint64 (proto.rs); the client reads it as a uint64, so rowid 4 shows as 8.
    expect(await inserted).toMatchObject({ affectedRowCount: 1, lastInsertRowid: 8n });
    const cursor = exchanges.find((e) => e.path === '/v3-protobuf/cursor')!;
    expect([cursor.status, cursor.contentType]).toEqual([200, 'application/octet-stream']);
    expect(Array.from((await cursor.responseBody).subarray(-1))).toEqual([0]); // the empty last CursorEntry
    expect((await stream.queryValue('SELECT count(*) FROM t')).value).toBe(4n); // the stream goes on
  });

  it('writes responses as sqld does on the wire (sint64 integers, raw bytes, empty Null, map-keyed batch steps)', async () => {
    const { server } = await setup();
    const select = raw.execute(raw.stmt("SELECT -1, 1.5, x'00ff', 'é', NULL, ''"));
    const steps = [pb.msg(1, pb.msg(2, raw.stmt('SELECT 1'))), pb.msg(1, pb.msg(2, raw.stmt('SELECT * FROM nope')))];
    const batch = pb.msg(3, pb.msg(1, ...steps));
    const res = await postProtobuf(server, '/v3-protobuf/pipeline', raw.pipeline([select, batch, pb.msg(1)]));
    expect([res.status, res.contentType]).toEqual([200, 'application/x-protobuf']);
    const values = firstRowValues(res.body).map((v) => v[0]);
    expect(values).toEqual([
      { no: 2, varint: 1n }, // zigzag(-1)
      { no: 3, fixed64: Buffer.from(new Float64Array([1.5]).buffer) },
      { no: 5, bytes: Buffer.from([0, 255]) },
      { no: 4, bytes: Buffer.from('é') },
      { no: 1, bytes: Buffer.alloc(0) },
      { no: 4, bytes: Buffer.alloc(0) },
    ]);
    const batchResult = pbPath(pbFields(res.body).filter((f) => f.no === 3)[1]!.bytes!, 1, 3, 1);
    const entries = pbFields(batchResult).map((f) => ({ map: f.no, key: pbFields(f.bytes!)[0] }));
    expect(entries).toEqual([
      { map: 1, key: { no: 1, varint: 0n } }, // step_results[0]: the key is written even when 0 (protobuf.rs vec_as_map)
      { map: 2, key: { no: 1, varint: 1n } }, // step_errors[1]
    ]);
    expect(pbText(pbPath(batchResult, 2, 2), 2)).toBe('SQL_INPUT_ERROR');
    expect(pbFields(res.body).filter((f) => f.no === 1)).toEqual([]); // closed: no baton
  });

  it('answers protocol errors and undecodable bodies like sqld (400 text/plain)', async () => {
    const { server } = await setup({ token: 's3cret' });
    const auth = { authorization: 'Bearer s3cret' };
    const post = (body: Buffer, path = '/v3-protobuf/pipeline') => postProtobuf(server, path, body, auth);
    const text = async (body: Buffer, path?: string) => {
      const res = await post(body, path);
      expect([res.status, res.contentType]).toEqual([400, 'text/plain']);
      return Buffer.from(res.body).toString();
    };
    const decodeError = 'Could not decode client message from Protobuf: failed to decode Protobuf message: ';
    expect(await text(Buffer.from([0x12, 0x05, 0x12]))).toBe(`${decodeError}buffer underflow`);
    expect(await text(raw.pipeline([raw.execute(raw.stmt('SELECT ?', raw.text(Buffer.from([0xff, 0xfe]))))]))).toBe(
      `${decodeError}invalid string value: data is not UTF-8 encoded`,
    );
    expect(await text(Buffer.from([0x0a, 0x01]), '/v3-protobuf/cursor')).toBe(`${decodeError}buffer underflow`);
    // Empty oneofs decode as sqld's None variants and fail when handled (request.rs, stmt.rs, batch.rs).
    expect(await text(raw.pipeline([Buffer.alloc(0)]))).toBe('StreamRequest type not recognized');
    expect(await text(raw.pipeline([raw.execute(raw.stmt('SELECT ?', Buffer.alloc(0)))]))).toBe('Value type not recognized');
    const emptyCond = pb.msg(3, pb.msg(1, pb.msg(1, pb.msg(2, raw.stmt('SELECT 1'))), pb.msg(1, pb.msg(1), pb.msg(2, raw.stmt('SELECT 2')))));
    expect(await text(raw.pipeline([emptyCond]))).toBe('BatchCond type not recognized');
    expect(await text(raw.pipeline([raw.execute(Buffer.alloc(0))]))).toBe('Either `sql` or `sql_id` are required');
    expect(await text(raw.pipeline([pb.msg(1)], 'bm90IGEgYmF0b24'))).toBe('Received an invalid baton');
    // An empty body is a valid PipelineReqBody (prost defaults): a new stream, no results.
    const empty = await post(Buffer.alloc(0));
    expect(empty.status).toBe(200);
    expect(pbFields(empty.body).map((f) => f.no)).toEqual([1]);
    // Authentication comes first and stays JSON, whatever the encoding.
    const unauthorized = await postProtobuf(server, '/v3-protobuf/pipeline', Buffer.alloc(0));
    expect([unauthorized.status, unauthorized.contentType]).toEqual([401, 'application/json']);
    expect(JSON.parse(Buffer.from(unauthorized.body).toString())).toEqual({ error: 'Unauthorized: `Expected authorization header but none given`' });
  });

  it('applies fault injection and latency to the Protobuf routes too', async () => {
    const { server, stream } = await setupV3({ failEvery: 2, failAfterExecute: true, latencyMs: 100 });
    const started = performance.now();
    await stream.run('CREATE TABLE t(x)'); // request 1 (the GET probe is not a Hrana POST)
    expect(performance.now() - started).toBeGreaterThanOrEqual(190); // probe + request, 100 ms each
    const lost = await stream.run('INSERT INTO t VALUES (1)').catch((e: unknown) => e); // request 2: runs, then 503
    expect(lost).toMatchObject({ name: 'HttpServerError', status: 503 });
    expect(server.stats).toEqual({ requests: 2, failed: 1 });
    const check = createClient({ url: server.url, intMode: 'bigint' });
    cleanups.push(() => check.close());
    expect((await check.execute('SELECT count(*) FROM t')).rows[0]![0]).toBe(1n); // executed before the loss
  });

  it('falls back to v2 JSON when Protobuf is off (encodings: ["json"]) and still works', async () => {
    const { client, stream, exchanges } = await setupV3({ encodings: ['json'] });
    expect(await client.getVersion()).toBe(2);
    const bom = '\uFEFFstarts with a BOM';
    const row = (await stream.queryRow(['SELECT ?, ?, ?, ?, ?', [I64_MIN, 'a\u0000b', new Uint8Array([1, 2]), HARD_FLOATS[0]!, bom]])).row!;
    expect([row[0], row[1], Array.from(bytesOf(row[2])), row[4]]).toEqual([I64_MIN, 'a\u0000b', [1, 2], bom]);
    expect(row[3]).toBe(serdeF64(HARD_FLOATS[0]!)); // the JSON path's float misreading, which Protobuf avoids
    const batch = stream.batch(false);
    const first = batch.step();
    const one = first.query('SELECT 1');
    const two = batch.step().condition(hrana.BatchCond.ok(first)).query('SELECT 2');
    await batch.execute();
    expect([(await one)!.rows[0]![0], (await two)!.rows[0]![0]]).toEqual([1n, 2n]);
    expect(() => stream.getAutocommit()).toThrow(hrana.ProtocolVersionError);
    expect(() => hrana.BatchCond.isAutocommit(stream.batch(false))).toThrow(hrana.ProtocolVersionError);
    expect(exchanges.map((e) => `${e.method} ${e.path} ${e.status} ${e.contentType}`)).toEqual([
      'GET /v3-protobuf 404 null',
      'POST /v2/pipeline 200 application/json',
      'POST /v2/pipeline 200 application/json',
    ]);
    const cursor = stream.batch(true);
    cursor.step().query('SELECT 1');
    await expect(cursor.execute()).rejects.toBeInstanceOf(hrana.ProtocolVersionError); // v2 has no cursors
  });
});

describe('CLI', () => {
  /** Starts the CLI and resolves with the URL from its listening line. */
  async function startCli(...args: string[]): Promise<string> {
    const child = spawn('npx', ['tsx', 'test/support/hrana-server.ts', '--db', tempDb(), '--port', '0', ...args], {
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
    return line.split(' ').at(-1)!;
  }

  it('prints a listening line with the URL', async () => {
    const url = await startCli();
    const client = createClient({ url });
    cleanups.push(() => client.close());
    expect((await client.execute('SELECT 40 + 2')).rows[0]![0]).toBe(42);
    expect((await fetch(`${url}/v3-protobuf`)).status).toBe(200);
  });

  it('serves JSON only with --json-only', async () => {
    const url = await startCli('--json-only');
    expect((await fetch(`${url}/v3-protobuf`)).status).toBe(404);
    const client = hrana.openHttp(url, undefined, undefined, undefined, 3);
    cleanups.push(() => client.close());
    expect(await client.getVersion()).toBe(2);
  });
});
