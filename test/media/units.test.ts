/** The pure parts of the media commands: the relink rule, map files, mirror paths, retry classes, bounded intake. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobAccessError, BlobError, BlobNotFoundError, BlobServiceNotAvailable, BlobServiceRateLimited } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { classifyBlobError, ObjectError, withRetry } from '../../src/blob/client.js';
import { mirrorPath } from '../../src/media/mirror.js';
import { forEachBounded } from '../../src/media/pool.js';
import { parseMap, relinkRow, urlPath, type RelinkRule } from '../../src/media/relink.js';

const OLD = 'https://abc.public.blob.vercel-storage.com/';
const NEW = 'https://xyz.public.blob.vercel-storage.com/';

describe('relink rule', () => {
  const move: RelinkRule = { kind: 'prefix', from: OLD, to: NEW };

  it('urlPath is the decoded URL path without its leading slash', () => {
    expect(urlPath(`${OLD}media/a%20b.png`)).toBe('media/a b.png');
    expect(urlPath('not a url')).toBeNull();
  });

  it('a store move rewrites the url and keeps the pathname (it is the same in both stores)', () => {
    expect(relinkRow(move, `${OLD}media/a.png`, 'media/a.png')).toEqual({ url: `${NEW}media/a.png` });
    expect(relinkRow(move, 'https://other.example/a.png', 'a.png')).toBeNull();
    expect(relinkRow(move, null, 'a.png')).toBeNull();
  });

  it('a prefix reaching into the path moves the pathname too, only when it followed the url', () => {
    const rule: RelinkRule = { kind: 'prefix', from: `${OLD}media/`, to: `${NEW}assets/2024/` };
    expect(relinkRow(rule, `${OLD}media/a.png`, 'media/a.png')).toEqual({ url: `${NEW}assets/2024/a.png`, pathname: 'assets/2024/a.png' });
    // A pathname that does not equal the old url's path is left alone.
    expect(relinkRow(rule, `${OLD}media/a.png`, 'uploads/a.png')).toEqual({ url: `${NEW}assets/2024/a.png` });
    expect(relinkRow(rule, `${OLD}media/a.png`, null)).toEqual({ url: `${NEW}assets/2024/a.png` });
  });

  it('is idempotent when --to extends --from', () => {
    const rule: RelinkRule = { kind: 'prefix', from: OLD, to: `${OLD}v2/` };
    const once = relinkRow(rule, `${OLD}a.png`, 'a.png')!;
    expect(once.url).toBe(`${OLD}v2/a.png`);
    expect(relinkRow(rule, once.url, once.pathname ?? 'a.png')).toBeNull();
  });

  it('map mode matches whole urls only', () => {
    const rule: RelinkRule = { kind: 'map', map: new Map([[`${OLD}a.png`, `${NEW}a.png`]]) };
    expect(relinkRow(rule, `${OLD}a.png`, 'a.png')).toEqual({ url: `${NEW}a.png` });
    expect(relinkRow(rule, `${OLD}a.png?x=1`, 'a.png')).toBeNull();
  });
});

describe('map files', () => {
  it('reads CSV with an optional header and quoted fields', () => {
    const m = parseMap(`old,new\n${OLD}a,${NEW}a\n\n"${OLD}b,c","${NEW}b""q"\n`);
    expect([...m]).toEqual([
      [`${OLD}a`, `${NEW}a`],
      [`${OLD}b,c`, `${NEW}b"q`],
    ]);
  });

  it('reads JSON objects and arrays', () => {
    expect([...parseMap(JSON.stringify({ a: 'b' }))]).toEqual([['a', 'b']]);
    expect([...parseMap(JSON.stringify([['a', 'b'], { old: 'c', new: 'd' }, { from: 'e', to: 'f' }]))]).toEqual([
      ['a', 'b'],
      ['c', 'd'],
      ['e', 'f'],
    ]);
  });

  it('rejects malformed maps with a usage error', () => {
    for (const bad of ['a,b,c\n', '{"a": 1}', '[1]', 'a,b\na,c\n', '"a,b\n', 'a,\n']) {
      expect(() => parseMap(bad)).toThrow(BackupError);
    }
  });
});

describe('mirrorPath', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'media-units-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps the pathname layout', () => {
    expect(mirrorPath(dir, 'media/2024/a b.png')).toBe(join(dir, 'media', '2024', 'a b.png'));
  });

  it('refuses pathnames that escape or alias the directory', () => {
    for (const bad of ['../x', 'a/../../x', '/etc/passwd', 'a//b', './a', 'a/', '', 'a\\..\\b', 'C:/x', 'a\0b', '..']) {
      expect(() => mirrorPath(dir, bad), bad).toThrow(ObjectError);
    }
  });
});

describe('blob errors and retries', () => {
  it('classifies what an error means', () => {
    expect(classifyBlobError(new BlobNotFoundError()).kind).toBe('missing');
    expect(classifyBlobError(new BlobAccessError()).kind).toBe('fatal');
    expect(classifyBlobError(new BlobServiceRateLimited(3))).toMatchObject({ kind: 'transient', retryAfterMs: 3000 });
    expect(classifyBlobError(new BlobServiceNotAvailable()).kind).toBe('transient');
    expect(classifyBlobError(Object.assign(new TypeError('fetch failed'), {})).kind).toBe('transient');
    expect(classifyBlobError(new BlobError('bad pathname')).kind).toBe('invalid');
  });

  const fast = { attempts: 4, baseMs: 1, maxMs: 2 };

  it('retries transient failures, then succeeds', async () => {
    let calls = 0;
    const retried: string[] = [];
    const v = await withRetry(
      'x',
      async () => {
        if (++calls < 3) throw calls === 1 ? new BlobServiceRateLimited(0) : new BlobServiceNotAvailable();
        return 42;
      },
      { policy: fast, onRetry: (m) => retried.push(m) },
    );
    expect(v).toBe(42);
    expect(retried).toHaveLength(2);
  });

  it('gives up on the command after the last attempt, and never retries a 403', async () => {
    let calls = 0;
    const down = withRetry(
      'x',
      async () => {
        calls++;
        throw new BlobServiceNotAvailable();
      },
      { policy: fast },
    );
    await expect(down).rejects.toMatchObject({ code: 'REMOTE' });
    expect(calls).toBe(4);
    calls = 0;
    const denied = withRetry(
      'x',
      async () => {
        calls++;
        throw new BlobAccessError();
      },
      { policy: fast },
    );
    await expect(denied).rejects.toMatchObject({ code: 'AUTH' });
    expect(calls).toBe(1);
  });
});

describe('forEachBounded', () => {
  it('pulls from the source only as fast as tasks finish', async () => {
    let pulled = 0;
    let running = 0;
    let maxRunning = 0;
    let maxAhead = 0;
    let finished = 0;
    async function* source() {
      for (let i = 0; i < 500; i++) {
        pulled++;
        maxAhead = Math.max(maxAhead, pulled - finished);
        yield i;
      }
    }
    await forEachBounded(source(), 8, async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise((r) => setTimeout(r, 1));
      running--;
      finished++;
    });
    expect(finished).toBe(500);
    expect(maxRunning).toBe(8);
    expect(maxAhead).toBeLessThanOrEqual(17);
  });

  it('stops at the first failure and closes the source', async () => {
    let closed = false;
    let started = 0;
    async function* source() {
      try {
        for (let i = 0; ; i++) yield i;
      } finally {
        closed = true;
      }
    }
    const run = forEachBounded(source(), 4, async (i) => {
      started++;
      await new Promise((r) => setTimeout(r, 1));
      if (i === 10) throw new Error('boom');
    });
    await expect(run).rejects.toThrow('boom');
    expect(closed).toBe(true);
    expect(started).toBeLessThan(40);
  });
});
