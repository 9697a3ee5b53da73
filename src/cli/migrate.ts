/** `migrate-turso [--dir prisma/migrations] [--confirm]`: dry run lists pending migrations; --confirm applies them. */
import { openConnection } from '../db/connection.js';
import { applyMigrations, migrationStatus, readMigrations } from '../migrate.js';
import { requireDatabaseUrl } from '../db/url.js';
import { parse } from './args.js';
import { makeOut } from './output.js';

const USAGE = 'migrate-turso [--dir prisma/migrations] [--confirm] [--json]';

export async function migrateMain(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    { dir: { type: 'string' }, confirm: { type: 'boolean' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } },
    { min: 0, max: 0, usage: USAGE },
  );
  const dir = v.dir ?? 'prisma/migrations';
  const url = requireDatabaseUrl();
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const migrations = readMigrations(dir);
  const conn = await openConnection(url, process.env.TURSO_AUTH_TOKEN || undefined, { create: v.confirm ?? false });
  try {
    const status = await migrationStatus(conn, migrations);
    for (const name of status.unknown) out.info(`warning: ${name} is recorded as applied but is not in ${dir}`);
    out.info(`${status.applied.length} applied, ${status.pending.length} pending in ${dir}`);
    for (const m of status.pending) out.info(`  pending: ${m.name}`);
    const applied: string[] = [];
    if (!v.confirm) {
      if (status.pending.length) out.info('dry run: nothing was applied; run again with --confirm');
    } else {
      await applyMigrations(conn!, status.pending, (m) => {
        applied.push(m.name);
        out.info(`  applied: ${m.name}`);
      });
      for (const note of new Set(conn!.notes)) out.info(`note: ${note}`);
      out.info(`done: ${applied.length} migration${applied.length === 1 ? '' : 's'} applied`);
    }
    if (v.json) {
      out.json({ mode: v.confirm ? 'migrate' : 'dry-run', applied, pending: status.pending.map((m) => m.name).filter((n) => !applied.includes(n)), alreadyApplied: status.applied });
    }
    return 0;
  } finally {
    await conn?.close();
  }
}
