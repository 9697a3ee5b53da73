import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { remoteDatabase } from '../scripts/lib/launch.mjs';
import { tempDirs } from './support/dumps.js';

const dirs = tempDirs('tb-launch-');
afterAll(() => dirs.cleanup());

describe("the launcher's guess at a remote database (its working process then gets a larger initial heap)", () => {
  const none = dirs.make(); // no .env here

  it('reads --db and --target, in both spellings, before TURSO_DATABASE_URL', () => {
    expect(remoteDatabase(['backup', '--db', 'libsql://app.turso.io'], {}, none)).toBe(true);
    expect(remoteDatabase(['restore', 'x.ndjson.gz', '--target=https://app.turso.io', '--confirm'], {}, none)).toBe(true);
    expect(remoteDatabase(['backup', '--db', 'file:app.db'], { TURSO_DATABASE_URL: 'libsql://x.turso.io' }, none)).toBe(false);
    expect(remoteDatabase(['backup'], { TURSO_DATABASE_URL: 'libsql://x.turso.io' }, none)).toBe(true);
    expect(remoteDatabase(['backup'], { TURSO_DATABASE_URL: 'file:/data/app.db' }, none)).toBe(false);
    expect(remoteDatabase(['backup'], { TURSO_DATABASE_URL: 'http://127.0.0.1:8080' }, none)).toBe(true);
  });

  it('stops at `--`, and takes no guess from a missing or local database', () => {
    expect(remoteDatabase(['restore', '--', '--db', 'libsql://x.turso.io'], {}, none)).toBe(false);
    expect(remoteDatabase(['backup'], {}, none)).toBe(false);
    expect(remoteDatabase(['backup', '--db'], {}, none)).toBe(false);
  });

  it('falls back on ./.env as the CLI does, and the environment wins over it', () => {
    const dir = dirs.make();
    writeFileSync(join(dir, '.env'), '# app settings\nTURSO_DATABASE_URL="libsql://app-org.turso.io"\nTURSO_AUTH_TOKEN=secret\n');
    expect(remoteDatabase(['backup'], {}, dir)).toBe(true);
    expect(remoteDatabase(['backup'], { TURSO_DATABASE_URL: 'file:app.db' }, dir)).toBe(false);
    writeFileSync(join(dir, '.env'), 'TURSO_DATABASE_URL=file:./prisma/dev.db\n');
    expect(remoteDatabase(['backup'], {}, dir)).toBe(false);
  });

  it('reads ./.env as the CLI does: a name in braces after $ expanded (the environment first), a byte order mark ignored', () => {
    const dir = dirs.make();
    writeFileSync(join(dir, '.env'), `HOST=libsql://app-org.turso.io\nTURSO_DATABASE_URL=\${HOST}\n`);
    expect(remoteDatabase(['backup'], {}, dir)).toBe(true);
    expect(remoteDatabase(['backup'], { HOST: 'file:app.db' }, dir)).toBe(false);
    writeFileSync(join(dir, '.env'), '\uFEFFTURSO_DATABASE_URL=https://app-org.turso.io\n');
    expect(remoteDatabase(['backup'], {}, dir)).toBe(true);
    // A .env the CLI will refuse (a loop) is no reason to fail here: the CLI says what is wrong.
    writeFileSync(join(dir, '.env'), `TURSO_DATABASE_URL=\${TURSO_DATABASE_URL}\n`);
    expect(remoteDatabase(['backup'], {}, dir)).toBe(false);
  });
});
