/**
 * Restoring a legacy single-document JSON backup of the old in-app shape
 *   { "createdAt": ..., "tables": { "<table>": [ { "<column>": <value>, ... }, ... ] }, "mediaAssetInventory": [...] }
 * parsed as a token stream (stream-json), never loaded whole. It carries no schema, so it loads into a migrated
 * target by column name. Pass 1 checks the shape and every table/column against the target and counts rows;
 * pass 2 loads in one transaction with foreign keys off and the target's triggers dropped and re-created.
 *
 * JSON cannot carry everything SQLite stores: numbers keep their raw text (an integer beyond 2^53 is not rounded;
 * `1.0` loads as REAL), but a BLOB has no JSON form (the old backups wrote them as objects or base64 text, loaded
 * here as TEXT) and a REAL's exact bits are only as exact as the decimal text that was written.
 */
import type { Readable } from 'node:stream';
import parserStream from 'stream-json';
import { BackupError } from '../errors.js';
import { encodeCell, type SqlValue } from '../format/values.js';
import { schemaReplayer, type RestoreOptions, type RestoreResult } from '../restore.js';
import { q } from '../source/sql.js';
import type { Target } from '../target/types.js';
import { MAX_SEED_ROWS } from './seeds.js';
import { emptyState, inspectTarget, PRISMA_MIGRATIONS, type TargetState } from './target-state.js';

type Token = { name: string; value?: string };

export const LEGACY_CAVEATS = [
  'legacy JSON backup: integers beyond 2^53 are exact only if the file kept their digits; BLOB values and exact REAL bits cannot be carried by JSON and load as written',
];

/** Turns a JSON scalar token into the SQLite value a Prisma app stored: booleans as 0/1, numbers by their text. */
function scalar(t: Token): SqlValue {
  switch (t.name) {
    case 'nullValue':
      return null;
    case 'trueValue':
      return 1n;
    case 'falseValue':
      return 0n;
    case 'stringValue':
      return t.value!;
    case 'numberValue': {
      const text = t.value!;
      return /^-?\d+$/.test(text) ? BigInt(text) : Number(text);
    }
  }
  throw new BackupError('CORRUPT', `unexpected JSON token ${t.name}`);
}

/** Re-assembles a nested JSON value (a Json column) as compact JSON text, keeping number text as written. */
function assemble(tokens: Token[]): string {
  let out = '';
  const needComma: boolean[] = [];
  let afterKey = false;
  for (const t of tokens) {
    const opening = t.name === 'startObject' || t.name === 'startArray';
    const closing = t.name === 'endObject' || t.name === 'endArray';
    if (!closing && !afterKey && needComma.length) {
      if (needComma[needComma.length - 1]) out += ',';
      needComma[needComma.length - 1] = true;
    }
    afterKey = false;
    if (opening) {
      out += t.name === 'startObject' ? '{' : '[';
      needComma.push(false);
    } else if (closing) {
      out += t.name === 'endObject' ? '}' : ']';
      needComma.pop();
    } else if (t.name === 'keyValue') {
      out += `${JSON.stringify(t.value)}:`;
      afterKey = true;
    } else if (t.name === 'stringValue') out += JSON.stringify(t.value);
    else if (t.name === 'numberValue') out += t.value;
    else out += t.name === 'nullValue' ? 'null' : t.name === 'trueValue' ? 'true' : 'false';
  }
  return out;
}

interface LegacyRow {
  table: string;
  row: Map<string, SqlValue>;
}

/**
 * Streams the rows of a legacy backup from stream-json's token stream. Throws CORRUPT on anything but the
 * expected shape.
 */
async function* legacyRows(input: Readable): AsyncGenerator<LegacyRow | { createdAt: string }> {
  const parser = parserStream({ packValues: true, streamValues: false });
  input.on('error', (e) => parser.destroy(e));
  input.pipe(parser);
  const it = parser[Symbol.asyncIterator]() as AsyncIterator<Token>;
  const next = async (): Promise<Token> => {
    const r = await it.next();
    if (r.done) throw new BackupError('CORRUPT', 'the JSON backup ends early (truncated)');
    return r.value;
  };
  const expect = async (name: string, what: string) => {
    const t = await next();
    if (t.name !== name) throw new BackupError('CORRUPT', `not a legacy JSON backup: expected ${what}`);
    return t;
  };
  const skipValue = async (first: Token) => {
    let depth = first.name === 'startObject' || first.name === 'startArray' ? 1 : 0;
    while (depth > 0) {
      const t = await next();
      if (t.name === 'startObject' || t.name === 'startArray') depth++;
      else if (t.name === 'endObject' || t.name === 'endArray') depth--;
    }
  };
  const valueOf = async (first: Token): Promise<SqlValue> => {
    if (first.name !== 'startObject' && first.name !== 'startArray') return scalar(first);
    const toks: Token[] = [first];
    let depth = 1;
    while (depth > 0) {
      const t = await next();
      toks.push(t);
      if (t.name === 'startObject' || t.name === 'startArray') depth++;
      else if (t.name === 'endObject' || t.name === 'endArray') depth--;
    }
    return assemble(toks);
  };
  await expect('startObject', 'a JSON object');
  let sawTables = false;
  try {
    for (;;) {
      const k = await next();
      if (k.name === 'endObject') break;
      if (k.name !== 'keyValue') throw new BackupError('CORRUPT', 'not a legacy JSON backup: malformed object');
      const first = await next();
      if (k.value === 'createdAt' && first.name === 'stringValue') {
        yield { createdAt: first.value! };
        continue;
      }
      if (k.value !== 'tables') {
        await skipValue(first);
        continue;
      }
      if (first.name !== 'startObject') throw new BackupError('CORRUPT', 'not a legacy JSON backup: "tables" is not an object');
      sawTables = true;
      for (;;) {
        const tk = await next();
        if (tk.name === 'endObject') break;
        const table = tk.value!;
        await expect('startArray', `an array of rows for table "${table}"`);
        for (;;) {
          const r = await next();
          if (r.name === 'endArray') break;
          if (r.name !== 'startObject') throw new BackupError('CORRUPT', `table "${table}": a row is not a JSON object`);
          const row = new Map<string, SqlValue>();
          for (;;) {
            const ck = await next();
            if (ck.name === 'endObject') break;
            row.set(ck.value!, await valueOf(await next()));
          }
          yield { table, row };
        }
      }
    }
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError('CORRUPT', `not a valid JSON backup: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!sawTables) throw new BackupError('CORRUPT', 'not a legacy JSON backup: it has no "tables" object');
}

interface Census {
  createdAt: string | null;
  tables: Map<string, { rows: number; columns: Set<string> }>;
  /** Target rows (seeded by migrations) not found in the backup, per table. */
  unmatchedSeeds: Map<string, number>;
}

/** The target's existing rows as a multiset keyed by their encoded values, column by column. */
async function seedBags(target: Target | null, state: TargetState) {
  const bags = new Map<string, { columns: string[]; bag: Map<string, number> }>();
  if (!target) return bags;
  for (const t of state.tables.values()) {
    if (t.rows === 0 || t.rows > MAX_SEED_ROWS || t.virtual || t.name === PRISMA_MIGRATIONS) continue;
    const bag = new Map<string, number>();
    for (const r of await target.query(`SELECT ${t.columns.map(q).join(', ')} FROM ${q(t.name)}`)) {
      const key = r.map(encodeCell).join(',');
      bag.set(key, (bag.get(key) ?? 0) + 1);
    }
    bags.set(t.name, { columns: t.columns, bag });
  }
  return bags;
}

async function census(input: Readable, target: Target | null, state: TargetState): Promise<Census> {
  const c: Census = { createdAt: null, tables: new Map(), unmatchedSeeds: new Map() };
  const bags = await seedBags(target, state);
  for await (const r of legacyRows(input)) {
    if ('createdAt' in r) {
      c.createdAt = r.createdAt;
      continue;
    }
    let t = c.tables.get(r.table);
    if (!t) c.tables.set(r.table, (t = { rows: 0, columns: new Set() }));
    t.rows++;
    for (const k of r.row.keys()) t.columns.add(k);
    const seeds = bags.get(r.table);
    if (seeds && seeds.bag.size) {
      // Columns the backup's row lacks would take their defaults: compare those the row has.
      const key = seeds.columns.map((col) => encodeCell(r.row.has(col) ? r.row.get(col)! : null)).join(',');
      const n = seeds.bag.get(key);
      if (n !== undefined) n <= 1 ? seeds.bag.delete(key) : seeds.bag.set(key, n - 1);
    }
  }
  for (const [name, { bag }] of bags) {
    let n = 0;
    for (const v of bag.values()) n += v;
    if (n > 0) c.unmatchedSeeds.set(name, n);
  }
  return c;
}

function planLegacy(c: Census, state: TargetState, opts: RestoreOptions): string[] {
  const refusals: string[] = [];
  if (state.tables.size === 0) refusals.push('a legacy JSON backup carries no schema: apply the migrations to the target first (migrate-turso.ts)');
  for (const [name, t] of c.tables) {
    if (opts.tables && !opts.tables.includes(name)) continue;
    if (name === PRISMA_MIGRATIONS) continue;
    const existing = state.tables.get(name);
    if (!existing) {
      if (state.tables.size) refusals.push(`the target has no table "${name}"`);
      continue;
    }
    for (const col of t.columns) if (!existing.columns.includes(col)) refusals.push(`table "${name}": the backup's column "${col}" has no place in the target`);
  }
  for (const t of state.tables.values()) {
    if (t.rows === 0 || t.name === PRISMA_MIGRATIONS || t.virtual) continue;
    const unmatched = t.rows > MAX_SEED_ROWS ? t.rows : (c.unmatchedSeeds.get(t.name) ?? 0);
    if (unmatched === 0) continue;
    if (!c.tables.has(t.name)) refusals.push(`the target holds data: table "${t.name}" has ${t.rows} rows and is not in the backup`);
    else if (!opts.clean) refusals.push(`the target holds data: table "${t.name}" has ${unmatched} rows that the backup does not (use --clean to replace them)`);
  }
  return refusals;
}

async function load(target: Target, input: Readable, c: Census, opts: RestoreOptions) {
  let batch: SqlValue[][] = [];
  let current: { table: string; columns: string[] } | null = null;
  let done = 0;
  const total = [...c.tables.values()].reduce((n, t) => n + t.rows, 0);
  const flush = async () => {
    if (!current || batch.length === 0) return;
    try {
      await target.insert(current.table, current.columns, batch);
    } catch (e) {
      throw new BackupError('CONSTRAINT', `table "${current.table}": ${(e as Error).message}; the restore was rolled back and the target is as it was`);
    }
    done += batch.length;
    opts.onProgress?.({ table: current.table, rows: done, totalRows: total });
    batch = [];
  };
  for await (const r of legacyRows(input)) {
    if ('createdAt' in r) continue;
    if (r.table === PRISMA_MIGRATIONS || (opts.tables && !opts.tables.includes(r.table))) continue;
    const columns = [...c.tables.get(r.table)!.columns];
    if (!current || current.table !== r.table) {
      await flush();
      current = { table: r.table, columns };
    }
    // A row lacking a column gets NULL there, as the old backup's JSON.stringify dropped only undefined.
    batch.push(columns.map((k) => (r.row.has(k) ? r.row.get(k)! : null)));
    if (batch.length >= 1000) await flush();
  }
  await flush();
}

export async function restoreLegacy(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  let target: Target | null = opts.target.missing ? null : await opts.target.open({ create: false });
  try {
    const state = target ? await inspectTarget(target) : emptyState();
    const c = await census(await opts.openInput(), target, state);
    const refusals = planLegacy(c, state, opts);
    if (refusals.length) {
      const more = refusals.length > 1 ? ` (and ${refusals.length - 1} more)` : '';
      throw new BackupError('REFUSED', `${refusals[0]}${more}`);
    }
    const chosen = [...c.tables].filter(([n]) => n !== PRISMA_MIGRATIONS && (!opts.tables || opts.tables.includes(n)));
    const result: RestoreResult = {
      mode: opts.confirm ? 'restore' : 'dry-run',
      source: 'legacy-json',
      target: target!.displayUrl,
      path: 'migrated',
      tables: Object.fromEntries(chosen.map(([n, t]) => [n, t.rows])),
      plan: chosen.map(([n, t]) => ({ table: n, rows: t.rows, action: 'load', targetRows: state.tables.get(n)!.rows })),
      warnings: [...(opts.target.notes ?? []), ...LEGACY_CAVEATS],
      foreignKeyViolations: {},
      foreignKeysUnchecked: [],
      verified: false,
      durationMs: 0,
    };
    if (!opts.confirm) {
      result.durationMs = Date.now() - started;
      return result;
    }
    await target!.beginLoad();
    try {
      for (const t of state.triggers) await target!.run(`DROP TRIGGER ${q(t.name)}`);
      // Seeded rows (all found in the backup) and, with --clean, any rows: the backup's rows replace them.
      for (const [n] of chosen) if (state.tables.get(n)!.rows > 0) await target!.run(`DELETE FROM ${q(n)}`);
      await load(target!, await opts.openInput(), c, opts);
      const replay = schemaReplayer(target!, null, result.warnings);
      for (const t of state.triggers) await replay(t.name, t.sql);
      for (const [n, t] of chosen) {
        const [[count]] = (await target!.query(`SELECT count(*) FROM ${q(n)}`)) as [[bigint]];
        if (Number(count) !== t.rows) throw new BackupError('CORRUPT', `table "${n}": ${count} rows after the load, expected ${t.rows}: rolled back`);
      }
      const { checkForeignKeys, uncheckedWarning } = await import('./verify-target.js');
      const fk = await checkForeignKeys(target!);
      result.foreignKeyViolations = fk.violations;
      result.foreignKeysUnchecked = fk.unchecked.map((u) => u.table);
      result.warnings.push(...fk.unchecked.map(uncheckedWarning));
      await target!.commit();
    } catch (e) {
      await target!.rollback().catch(() => {});
      throw e;
    }
    result.verified = true;
    result.durationMs = Date.now() - started;
    return result;
  } finally {
    await target?.close();
  }
}
