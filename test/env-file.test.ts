/**
 * How a `.env` in the working directory is read (src/cli/env-file.ts): parsed by dotenv as Prisma and Next.js parse
 * it, `${NAME}` expanded as Prisma expanded it, variables already set winning. Real files in temporary directories,
 * read into an environment object of the test's own (process.env is never touched).
 */
// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ${NAME} written into a .env is what these tests are about
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadDotEnv } from '../src/cli/env-file.js';
import { BackupError } from '../src/errors.js';
import { tempDirs } from './support/dumps.js';

const dirs = tempDirs('tb-dotenv-');
afterAll(() => dirs.cleanup());

/** Reads `text` as `./.env` into a copy of `env`; returns that environment and the names set from the file. */
function read(text: string, env: Record<string, string> = {}) {
  const dir = dirs.make();
  writeFileSync(join(dir, '.env'), text);
  const out: NodeJS.ProcessEnv = { ...env };
  const set = loadDotEnv(dir, out);
  return { env: out, set };
}

/** The error loadDotEnv throws on `text`. */
function failure(text: string, env: Record<string, string> = {}): BackupError {
  try {
    read(text, env);
  } catch (e) {
    expect(e).toBeInstanceOf(BackupError);
    return e as BackupError;
  }
  throw new Error('expected loadDotEnv to throw');
}

describe('${NAME} in a value, as Prisma expands it', () => {
  it("the tester's example: a variable defined earlier in the file", () => {
    const { env } = read('BASE=/tmp/somewhere\nTURSO_DATABASE_URL=file:${BASE}/app.db\n');
    expect(env.TURSO_DATABASE_URL).toBe('file:/tmp/somewhere/app.db');
  });

  it('a variable defined later in the file, and chains of them, in either order', () => {
    expect(read('URL=file:${DIR}/app.db\nDIR=/data\n').env.URL).toBe('file:/data/app.db');
    const chain = read('C=${B}c\nB=${A}b\nA=a\nD=${C}-${A}\n').env;
    expect(chain).toMatchObject({ A: 'a', B: 'ab', C: 'abc', D: 'abc-a' });
  });

  it('the environment wins over the file, for the variable and for what refers to it', () => {
    const { env, set } = read('BASE=/from/file\nTURSO_DATABASE_URL=file:${BASE}/app.db\n', { BASE: '/from/env' });
    expect(env.BASE).toBe('/from/env');
    expect(env.TURSO_DATABASE_URL).toBe('file:/from/env/app.db');
    expect(set).toEqual(['TURSO_DATABASE_URL']);
  });

  it('a variable set nowhere expands to an empty string (Prisma)', () => {
    expect(read('URL=file:${NOWHERE}/app.db\nEMPTY=${}\n').env).toMatchObject({ URL: 'file:/app.db', EMPTY: '' });
  });

  it('\\${NAME} is a literal ${NAME}', () => {
    const { env } = read('A=1\nLITERAL=\\${A}\nMIXED=\\${A}${A}\n');
    expect(env.LITERAL).toBe('${A}');
    expect(env.MIXED).toBe('${A}1');
  });

  it('a $ not followed by { stays as written: $NAME, $$, $1, \\$, a bcrypt hash', () => {
    const text = [
      'A=1',
      'BARE=$A',
      'PASSWORD=pa$$word$1',
      'ESCAPED=pa\\$\\$word',
      "HASH='$2b$10$OMZ69gxxsmRgwAt945WHSujpr/u8ZMx.xwtxWOCMkeMW7p3XqKYca'",
      'POSTGRES=postgres://u$ser:pass$word@host:5432/db?schema=s$1234',
      'OPEN=file:${dev.db',
    ].join('\n');
    expect(read(text).env).toMatchObject({
      BARE: '$A',
      PASSWORD: 'pa$$word$1',
      ESCAPED: 'pa\\$\\$word',
      HASH: '$2b$10$OMZ69gxxsmRgwAt945WHSujpr/u8ZMx.xwtxWOCMkeMW7p3XqKYca',
      POSTGRES: 'postgres://u$ser:pass$word@host:5432/db?schema=s$1234',
      OPEN: 'file:${dev.db',
    });
  });

  it("a value put in place is taken as it is: a secret's $&, $$ or ${ is never read again", () => {
    const secret = 'p$&w$$d$1`${NOT_A_VAR}';
    const { env } = read("TURSO_DATABASE_URL=libsql://db.example?authToken=${SECRET}\nFILE_SECRET='a$&b'\nB=${FILE_SECRET}\n", { SECRET: secret });
    expect(env.TURSO_DATABASE_URL).toBe(`libsql://db.example?authToken=${secret}`);
    expect(env.B).toBe('a$&b');
  });

  it('a variable that refers to itself, directly or round a loop, is a CONFIG error naming it, not its value', () => {
    const self = failure('TOKEN=s3cr3t-token-value${TOKEN}\n');
    expect(self.code).toBe('CONFIG');
    expect(self.message).toMatch(/TOKEN/);
    expect(self.message).not.toContain('s3cr3t');
    expect(self.message).not.toContain('\n');
    const loop = failure('A=s3cr3t-a${B}\nB=s3cr3t-b${C}\nC=${A}\nD=${A}\n');
    expect(loop.code).toBe('CONFIG');
    expect(loop.message).toMatch(/A.*B.*C/);
    expect(loop.message).not.toContain('s3cr3t');
    // Set in the environment, the variable is no loop: its own value is taken.
    expect(read('PATH_LIKE=${PATH_LIKE}:/opt/bin\n', { PATH_LIKE: '/usr/bin' }).env.PATH_LIKE).toBe('/usr/bin');
    expect(read('X=${PATH_LIKE}:/opt/bin\nPATH_LIKE=${PATH_LIKE}\n', { PATH_LIKE: '/usr/bin' }).env.X).toBe('/usr/bin:/opt/bin');
  });
});

describe('parsed as dotenv parses it', () => {
  it('a UTF-8 byte order mark does not hide the first variable', () => {
    const { env, set } = read('\uFEFFTURSO_DATABASE_URL=file:/data/app.db\nOTHER=1\n');
    expect(env.TURSO_DATABASE_URL).toBe('file:/data/app.db');
    expect(set).toEqual(['TURSO_DATABASE_URL', 'OTHER']);
    expect(Object.keys(env).some((k) => k.includes('\uFEFF'))).toBe(false);
  });

  it('CRLF line endings', () => {
    expect(read('A=1\r\nB="two"\r\nC=${A}3\r\n').env).toEqual({ A: '1', B: 'two', C: '13' });
  });

  it('quotes keep a #; outside them it starts a comment', () => {
    const { env } = read('# a comment\nQ="x#y" # trailing\nS=\'a # b\'\nU=plain # comment\nexport E=exported\n');
    expect(env).toEqual({ Q: 'x#y', S: 'a # b', U: 'plain', E: 'exported' });
  });

  it('a quoted value over several lines, and \\n in double quotes', () => {
    const { env } = read('KEY="-----BEGIN-----\nabc\n-----END-----"\nESC="one\\ntwo"\nSINGLE=\'one\\ntwo\'\nAFTER=${ESC}\n');
    expect(env.KEY).toBe('-----BEGIN-----\nabc\n-----END-----');
    expect(env.ESC).toBe('one\ntwo');
    expect(env.SINGLE).toBe('one\\ntwo');
    expect(env.AFTER).toBe('one\ntwo');
  });
});

describe('the file and the environment', () => {
  it('a variable already set is never overwritten, even set to an empty string; only the names set are returned', () => {
    const { env, set } = read('TURSO_DATABASE_URL=file:/from/file.db\nTURSO_AUTH_TOKEN=from-file\nNEW=1\n', {
      TURSO_DATABASE_URL: 'file:/from/env.db',
      TURSO_AUTH_TOKEN: '',
    });
    expect(env).toEqual({ TURSO_DATABASE_URL: 'file:/from/env.db', TURSO_AUTH_TOKEN: '', NEW: '1' });
    expect(set).toEqual(['NEW']);
  });

  it('no .env: nothing is set', () => {
    const env: NodeJS.ProcessEnv = {};
    expect(loadDotEnv(dirs.make(), env)).toEqual([]);
    expect(env).toEqual({});
  });

  it('a .env that cannot be read is a one-line CONFIG error naming the file and the reason', () => {
    const dir = dirs.make();
    mkdirSync(join(dir, '.env'));
    let err: unknown;
    try {
      loadDotEnv(dir, {});
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('CONFIG');
    expect((err as BackupError).message).toBe(`cannot read ${join(dir, '.env')}: EISDIR`);
  });
});
