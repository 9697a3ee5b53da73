/**
 * A legacy single-document JSON backup of the old in-app shape
 *   { "createdAt": ..., "tables": { "<table>": [ { "<column>": <value>, ... }, ... ] }, "mediaAssetInventory": [...] }
 * as a restore input: parsed as a token stream (stream-json), never loaded whole, and presented as the events of a
 * v1 dump without checksums — a header whose tables hold the columns the backup's rows use, then each table's rows
 * as v1 row lines — so refusals, seeds, triggers, the load, foreign keys and the commit are the restore's own.
 * It carries no schema: it loads into a migrated target by column name (restore/plan.ts).
 *
 * JSON cannot carry everything SQLite stores: numbers keep their raw text (an integer beyond 2^53 is not rounded;
 * `1.0` loads as REAL), but a BLOB has no JSON form (the old backups wrote them as objects or base64 text, loaded
 * here as TEXT) and a REAL's exact bits are only as exact as the decimal text that was written.
 */
import { pipeline, type Readable } from 'node:stream';
import parserStream from 'stream-json';
import { BackupError } from '../../errors.js';
import { FORMAT_NAME, FORMAT_VERSION, type HeaderLine, type TableInfo } from '../../format/lines.js';
import type { DumpEvent } from '../../format/reader.js';
import { encodeRow, type SqlValue } from '../../format/values.js';
import type { RestoreInput } from './types.js';

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
  // pipeline() ends the parser when the input fails (a download cut short), so the failure surfaces here.
  const parser = pipeline(input, parserStream({ packValues: true, streamValues: false }), () => {});
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
  const cellValue = async (first: Token): Promise<SqlValue> => {
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
  let sawTables = false;
  try {
    await expect('startObject', 'a JSON object');
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
            // JSON parsers keep the last of two equal keys; which value the backup meant cannot be known.
            if (row.has(ck.value!)) throw new BackupError('CORRUPT', `table "${table}": a row names column "${ck.value}" twice`);
            row.set(ck.value!, await cellValue(await next()));
          }
          yield { table, row };
        }
      }
    }
    // The whole file is the backup: text after its closing brace (a second document, garbage) is not taken as one.
    if (!(await it.next()).done) throw new BackupError('CORRUPT', 'not a valid JSON backup: something follows its closing brace');
  } catch (e) {
    if (e instanceof BackupError) throw e;
    throw new BackupError('CORRUPT', `not a valid JSON backup: ${(e as Error).message.split('\n')[0]}`);
  }
  if (!sawTables) throw new BackupError('CORRUPT', 'not a legacy JSON backup: it has no "tables" object');
}

interface Census {
  createdAt: string | null;
  /** Per table, in the order the backup holds them: its rows and the columns they use (in first-seen order). */
  tables: Map<string, { rows: number; columns: Set<string> }>;
}

/** Pass 0: the shape of the whole backup, and which tables and columns its rows use. */
async function census(input: Readable): Promise<Census> {
  const c: Census = { createdAt: null, tables: new Map() };
  let current: string | null = null;
  for await (const r of legacyRows(input)) {
    if ('createdAt' in r) {
      c.createdAt = r.createdAt;
      continue;
    }
    let t = c.tables.get(r.table);
    if (!t) {
      t = { rows: 0, columns: new Set() };
      c.tables.set(r.table, t);
    } else if (current !== r.table) throw new BackupError('CORRUPT', `not a valid JSON backup: table "${r.table}" appears twice`);
    current = r.table;
    t.rows++;
    for (const k of r.row.keys()) t.columns.add(k);
  }
  return c;
}

/** The header a v1 dump of these tables would have: no schema, no keys, row counts from the census. */
function legacyHeader(c: Census): HeaderLine {
  const tables: TableInfo[] = [...c.tables].map(([name, t]) => ({
    name,
    kind: 'table',
    withoutRowid: false,
    strict: false,
    columns: [],
    dataColumns: [...t.columns],
    rowidColumn: false,
    keyColumns: [],
    rows: t.rows,
  }));
  return {
    type: 'header',
    format: FORMAT_NAME,
    version: FORMAT_VERSION,
    tool: 'legacy JSON backup',
    createdAt: c.createdAt ?? '',
    source: '',
    consistency: 'snapshot',
    selection: { tables: null, excludeTables: [] },
    schema: [],
    tables,
    media: null,
    sqlite: {},
  };
}

/** Rows per `rows` event: the loader batches further on its own. */
const LINES_PER_EVENT = 256;

/** One pass over the backup as v1 dump events (no checksums: a JSON backup has none). */
async function* legacyEvents(input: Readable, header: HeaderLine): AsyncGenerator<DumpEvent> {
  const columnsOf = new Map(header.tables.map((t) => [t.name, t.dataColumns]));
  yield { kind: 'header', header };
  let table: string | null = null;
  let rows = 0;
  let text = '';
  let pending = 0;
  const end = (name: string): DumpEvent => ({ kind: 'end', end: { type: 'end', name, rows, sha256: '' } });
  for await (const r of legacyRows(input)) {
    if ('createdAt' in r) continue;
    if (r.table !== table) {
      if (pending) yield { kind: 'rows', bytes: Buffer.from(text), count: pending };
      if (table !== null) yield end(table);
      table = r.table;
      rows = 0;
      text = '';
      pending = 0;
      yield { kind: 'table', start: { type: 'table', name: table, columns: columnsOf.get(table)! } };
    }
    // A row lacking a column gets NULL there, as the old backup's JSON.stringify dropped only undefined.
    text += encodeRow(columnsOf.get(table)!.map((k) => (r.row.has(k) ? r.row.get(k)! : null)));
    rows++;
    if (++pending === LINES_PER_EVENT) {
      yield { kind: 'rows', bytes: Buffer.from(text), count: pending };
      text = '';
      pending = 0;
    }
  }
  if (pending) yield { kind: 'rows', bytes: Buffer.from(text), count: pending };
  if (table !== null) yield end(table);
  const total = header.tables.reduce((n, t) => n + t.rows, 0);
  yield { kind: 'trailer', trailer: { type: 'trailer', tables: header.tables.length, rows: total, mediaRows: 0, sha256: '' } };
}

/** A legacy JSON backup as a restore input; its shape is checked (a census of every row) before anything else. */
export async function legacyInput(openInput: () => Promise<Readable>): Promise<RestoreInput> {
  const header = legacyHeader(await census(await openInput()));
  return {
    kind: 'legacy-json',
    warnings: LEGACY_CAVEATS,
    async *read() {
      yield* legacyEvents(await openInput(), header);
    },
  };
}
