/**
 * The package as a user gets it (issue 14): built from a clean copy of the sources (`npm run build`), packed with
 * `npm pack`, installed into an empty folder, then run there: `npx turso-backup --help`, a backup of a `file:`
 * database, the library imported by an app (JavaScript and TypeScript). And the checkout's aliases: a dist/ older
 * than the sources is never what `npx tsx scripts/<alias>.ts` runs.
 *
 * The install takes dependencies from npm's cache (--prefer-offline; `npm ci` filled it) with install scripts off:
 * better-sqlite3's own script would compile SQLite for a minute or download from GitHub; its binary is copied from
 * this checkout's node_modules instead, the same version (pinned with `overrides`), built for this Node.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { ROOT } from './blob/helpers.js';
import { tempDirs } from './support/dumps.js';

const dirs = tempDirs('tb-package-');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { name: string; version: string };
// npm, npx and node of the Node running the tests (CI runs the suite on several).
const PATH = `${dirname(process.execPath)}:${process.env.PATH ?? ''}`;
let copy: string; // a clean copy of the sources, built
let tarball: string;
let app: string; // an empty folder the tarball is installed into

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, PATH, npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** What `npm pack` reads, copied; node_modules linked (tsc, for the build). */
function copySources(to: string): void {
  for (const p of [
    'package.json',
    'README.md',
    'tsconfig.json',
    'tsconfig.build.json',
    'bin',
    'src',
    'native',
    'scripts',
    'docs/RUNBOOK.md',
    'docs/FORMAT.md',
    'docs/DESIGN.md',
    'docs/BENCHMARKS.md',
    'docs/status-page.png',
  ]) {
    cpSync(join(ROOT, p), join(to, p), { recursive: true });
  }
  symlinkSync(join(ROOT, 'node_modules'), join(to, 'node_modules'));
}

beforeAll(async () => {
  copy = join(dirs.make(), 'turso-backup');
  mkdirSync(copy);
  copySources(copy);
  const build = await run(process.execPath, ['scripts/build.mjs'], copy);
  expect(build.code, build.stdout + build.stderr).toBe(0);
  const out = dirs.make();
  const pack = await run('npm', ['pack', '--ignore-scripts', '--pack-destination', out], copy);
  expect(pack.code, pack.stderr).toBe(0);
  tarball = join(out, pack.stdout.trim().split('\n').at(-1)!);
  expect(existsSync(tarball)).toBe(true);
}, 300_000);
afterAll(() => dirs.cleanup());

describe('npm pack', () => {
  it('ships dist/ (JavaScript and types, workers included, the native inflate module), the bin and docs; no sources, tests, fixtures, bench or backups', async () => {
    const r = await run('tar', ['tzf', tarball], dirs.make());
    const files = r.stdout
      .trim()
      .split('\n')
      .map((f) => f.replace(/^package\//, ''));
    for (const f of [
      'package.json',
      'README.md',
      'bin/turso-backup.mjs',
      'bin/relaunch.mjs',
      'bin/dotenv.mjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/bin.js',
      'dist/backup/read-worker.js',
      'dist/restore/checksum-worker.js',
      'docs/RUNBOOK.md',
      // Every document the README links to.
      'docs/FORMAT.md',
      'docs/DESIGN.md',
      'docs/BENCHMARKS.md',
      'docs/status-page.png',
    ]) {
      expect(files, f).toContain(f);
    }
    const outside = files.filter(
      (f) =>
        !/^(package\.json|README\.md|bin\/(turso-backup|relaunch|dotenv)\.mjs|docs\/(RUNBOOK|FORMAT|DESIGN|BENCHMARKS)\.md|docs\/status-page\.png|dist\/.+\.(js|d\.ts)|dist\/native\/inflate-[a-z0-9]+-[a-z0-9]+\.node|dist\/native\/libdeflate-COPYING)$/.test(
          f,
        ),
    );
    expect(outside).toEqual([]);
    // The native inflate module built here (libdeflate) ships for this platform; elsewhere node:zlib reads dumps.
    const built = `dist/native/inflate-${process.platform}-${process.arch}.node`;
    expect(files.includes(built)).toBe(existsSync(join(ROOT, built)));
    expect(files.includes('dist/native/libdeflate-COPYING')).toBe(files.includes(built)); // its MIT notice with it
    expect(files.filter((f) => /(^|\/)(test|fixtures|bench|backups|scripts|src|node_modules)\//.test(f))).toEqual([]);
    const manifest = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8'));
    expect(Object.keys(manifest.dependencies)).not.toContain('tsx');
    expect(Object.keys(manifest.dependencies)).not.toContain('esbuild');
  });
});

describe('installed into an empty folder', () => {
  beforeAll(async () => {
    app = dirs.make();
    const bs3 = JSON.parse(readFileSync(join(ROOT, 'node_modules', 'better-sqlite3', 'package.json'), 'utf8')) as { version: string };
    writeFileSync(
      join(app, 'package.json'),
      JSON.stringify(
        { name: 'an-app', private: true, type: 'module', dependencies: { [pkg.name]: `file:${tarball}` }, overrides: { 'better-sqlite3': bs3.version } },
        null,
        2,
      ),
    );
    const r = await run('npm', ['install', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const native = join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
    mkdirSync(dirname(join(app, native)), { recursive: true });
    cpSync(join(ROOT, native), join(app, native));
    const db = new Database(join(app, 'app.db'));
    db.exec("CREATE TABLE posts (id INTEGER PRIMARY KEY, title TEXT); INSERT INTO posts (title) VALUES ('hello'), ('world')");
    db.close();
  }, 300_000);

  it('runs without a TypeScript loader or a bundler installed', () => {
    expect(existsSync(join(app, 'node_modules', pkg.name, 'dist', 'cli', 'bin.js'))).toBe(true);
    expect(existsSync(join(app, 'node_modules', 'tsx'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'esbuild'))).toBe(false);
    expect(existsSync(join(app, 'node_modules', 'typescript'))).toBe(false);
  });

  it('npx turso-backup --help and --version', async () => {
    const help = await run('npx', ['--no-install', 'turso-backup', '--help'], app);
    expect(help.code, help.stderr).toBe(0);
    expect(help.stdout).toMatch(/^usage: turso-backup <command> \[flags\]$/m);
    const backupHelp = await run('npx', ['--no-install', 'turso-backup', 'backup', '-h'], app);
    expect(backupHelp.stdout).toMatch(/--db URL/);
    const version = await run('npx', ['--no-install', 'turso-backup', '--version'], app);
    expect(version.stdout.trim()).toBe(`turso-backup ${pkg.version}`);
  });

  it('backs up a file: database there, and the dump verifies', async () => {
    const b = await run('npx', ['--no-install', 'turso-backup', 'backup', '--db', 'file:app.db', '--write', '--out', 'backups/app.ndjson.gz', '--json'], app);
    expect(b.code, b.stderr).toBe(0);
    expect(JSON.parse(b.stdout.trim().split('\n').at(-1)!)).toMatchObject({ mode: 'write', file: 'backups/app.ndjson.gz', tables: { posts: 2 } });
    const v = await run('npx', ['--no-install', 'turso-backup', 'verify', 'backups/app.ndjson.gz'], app);
    expect(v.code, v.stderr).toBe(0);
    // A restore runs the verifying worker thread from dist/.
    const r = await run('npx', ['--no-install', 'turso-backup', 'restore', 'backups/app.ndjson.gz', '--target', 'file:restored.db', '--confirm'], app);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(app, 'restored.db'))).toBe(true);
  });

  it("runs its command in a node child with the aliases' memory flags and environment, and mirrors its exit", async () => {
    // Every node process of the command (NODE_OPTIONS reaches the child) says how it was started, at its exit.
    const probe = join(app, 'probe.cjs');
    const seen = join(app, 'seen.ndjson');
    writeFileSync(
      probe,
      `process.on('exit', (code) => require('node:fs').appendFileSync(${JSON.stringify(seen)}, JSON.stringify({ pid: process.pid, ppid: process.ppid, execArgv: process.execArgv, argv: process.argv.slice(2), arena: process.env.MALLOC_ARENA_MAX ?? null, code }) + '\\n'));\n`,
    );
    const started = (env: NodeJS.ProcessEnv, ...args: string[]) =>
      run('npx', ['--no-install', 'turso-backup', ...args], app, { NODE_OPTIONS: `--require ${probe}`, ...env }).then((r) => {
        const lines = readFileSync(seen, 'utf8')
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as { pid: number; ppid: number; execArgv: string[]; argv: string[]; arena: string | null; code: number });
        writeFileSync(seen, '');
        return { ...r, bin: lines.filter((l) => l.argv[0] === 'backup') };
      });
    writeFileSync(seen, '');
    const local = await started({ MALLOC_ARENA_MAX: '' }, 'backup', '--db', 'file:app.db', '--json');
    expect(local.code, local.stderr).toBe(0);
    const [parent, child] = [
      local.bin.find((p) => !p.execArgv.includes('--single-threaded-gc')),
      local.bin.find((p) => p.execArgv.includes('--single-threaded-gc')),
    ];
    expect(child, JSON.stringify(local.bin)).toMatchObject({ ppid: parent!.pid, arena: '2', code: 0 });
    expect(child!.execArgv).toEqual(['--max-semi-space-size=4', '--single-threaded-gc', '--v8-pool-size=1']);
    // A remote database (none answers here) gets the larger initial heap; the child's exit status is the command's.
    const remote = await started({ TURSO_AUTH_TOKEN: 'x' }, 'backup', '--db', 'libsql://127.0.0.1:9');
    expect(remote.code).toBe(1); // the command failed: fetch refuses that port
    const remoteChild = remote.bin.find((p) => p.execArgv.includes('--initial-heap-size=64'));
    expect(remoteChild).toMatchObject({ code: 1 });
    expect(remoteChild!.execArgv).not.toContain('--v8-pool-size=1'); // local commands only
    expect(remote.stderr).toMatch(/^turso-backup backup: error: cannot reach 127\.0\.0\.1:9/m);
    // Started with such flags by hand, or TURSO_BACKUP_INPROCESS=1: the command runs in that one process.
    const byHand = ['--max-semi-space-size=8', '--v8-pool-size=2'].map((flag) => ({ NODE_OPTIONS: `--require ${probe} ${flag}` }));
    for (const env of [{ TURSO_BACKUP_INPROCESS: '1' }, ...byHand]) {
      const one = await started(env, 'backup', '--db', 'file:app.db');
      expect(one.code, one.stderr).toBe(0);
      expect(one.bin).toHaveLength(1);
    }
  });

  it('an app imports the library: backup, verifyDump, createCronHandler', async () => {
    writeFileSync(
      join(app, 'nightly.mjs'),
      `import { backup, verifyDump, createCronHandler } from 'turso-backup';
const s = await backup({ url: 'file:app.db', out: 'lib/nightly.ndjson.gz', signal: AbortSignal.timeout(60_000) });
const v = await verifyDump(s.file);
const GET = createCronHandler({ env: {} });
const res = await GET(new Request('https://app.example.com/api/cron/backup'));
console.log(JSON.stringify({ tables: s.tables, rows: v.totalRows, cron: res.status }));`,
    );
    const r = await run(process.execPath, ['nightly.mjs'], app);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ tables: { posts: 2 }, rows: 2, cron: 500 }); // no CRON_SECRET: never open
  });

  it("the types: the README's examples, a Next.js route and a script type-check against the package's .d.ts (skipLibCheck off)", async () => {
    // Only @types/node, as an app has; nothing of this checkout's other @types.
    mkdirSync(join(app, 'types'));
    symlinkSync(join(ROOT, 'node_modules', '@types', 'node'), join(app, 'types', 'node'));
    writeFileSync(
      join(app, 'route.ts'),
      `import { backup, createCronHandler, createStatusHandler, restore, verifyDump, migrate, BackupError, type BackupSummary } from 'turso-backup';
export const GET = createCronHandler();
export const STATUS = createStatusHandler();
export async function nightly(signal: AbortSignal): Promise<BackupSummary> {
  const s = await backup({ url: 'file:app.db', out: 'x.ndjson.gz', signal });
  await verifyDump(s.file!);
  await restore({ source: s.file!, target: 'file:copy.db', confirm: false });
  await migrate({ url: 'file:app.db', dir: 'prisma/migrations' });
  return s;
}
export const isConfig = (e: unknown) => e instanceof BackupError && e.code === 'CONFIG';
`,
    );
    // Every TypeScript example of the README, as an app would paste it.
    const examples = [...readFileSync(join(ROOT, 'README.md'), 'utf8').matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
    expect(examples.length).toBeGreaterThanOrEqual(2);
    examples.forEach((code, i) => void writeFileSync(join(app, `readme-${i}.ts`), `${code}\nexport {};\n`));
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = [
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      'false',
      '--module',
      'nodenext',
      '--moduleResolution',
      'nodenext',
      '--target',
      'es2022',
      '--typeRoots',
      './types',
      '--types',
      'node',
    ];
    const r = await run(process.execPath, [tsc, ...flags, 'route.ts', ...examples.map((_, i) => `readme-${i}.ts`)], app);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });
});

describe("the checkout's aliases never run a stale dist/", () => {
  it('dist/ when it is the current sources; after an edit, a bundle of the edited sources', async () => {
    const launch = (await import(pathToFileURL(join(copy, 'scripts', 'lib', 'launch.mjs')).href)) as { entryPoint(): Promise<string> };
    expect(await launch.entryPoint()).toBe(join(copy, 'bin', 'turso-backup.mjs'));
    const specs = join(copy, 'src', 'cli', 'specs.ts');
    writeFileSync(
      specs,
      readFileSync(specs, 'utf8').replace("summary: 'list the backups in the Blob store", "summary: 'EDITED list the backups in the Blob store"),
    );
    const entry = await launch.entryPoint();
    expect(entry).not.toBe(join(copy, 'bin', 'turso-backup.mjs'));
    expect(entry).toMatch(/node_modules\/\.cache\/turso-backup\/cli-[0-9a-f]{16}\/turso-backup\.mjs$/);
    // With the native inflate module beside its chunks, as dist/ has it (src/format/inflate.ts looks in ./native/).
    const native = `native/inflate-${process.platform}-${process.arch}.node`;
    expect(existsSync(join(dirname(entry), native))).toBe(existsSync(join(ROOT, 'dist', native)));
    const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const alias = await run(process.execPath, ['--import', tsx, join(copy, 'scripts', 'list-backups.ts'), '--help'], dirs.make());
    expect(alias.code, alias.stderr).toBe(0);
    expect(alias.stdout).toContain('EDITED list the backups');
    // The stale dist/ still says the old thing: it was not what ran.
    const stale = await run(process.execPath, [join(copy, 'bin', 'turso-backup.mjs'), 'list', '--help'], dirs.make());
    expect(stale.stdout).not.toContain('EDITED');
  });
});
