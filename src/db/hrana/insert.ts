/**
 * Multi-row INSERTs for a load over HTTP: up to 512 rows per statement within SQLite's variable limit, closed early
 * at the request size, each value bound with its exact storage class (values the client cannot send as themselves —
 * ±Infinity, -0.0, REALs sqld would misread, TEXT that is not UTF-8 — as SQL literals, scaled floats or casts:
 * hrana/exact.ts).
 */
import type { SqlValue } from '../../format/values.js';
import { q } from '../url.js';
import { remoteTuning } from './config.js';
import { bindValue, jsonValueBytes, plainFloat } from './exact.js';
import type { Queued } from './pipeline.js';

/** SQLite's default SQLITE_MAX_VARIABLE_NUMBER (3.32+), which sqld's libSQL keeps. */
const MAX_VARIABLES = 32766;
/** Rows per multi-row INSERT statement (fewer, larger statements: less per-statement work on the server). */
const MAX_ROWS_PER_STATEMENT = 512;

/** A value the client would send wrongly as a plain argument (see hrana/exact.ts). */
const needsLiteral = (v: unknown) => (typeof v === 'number' ? !plainFloat(v) : v !== null && typeof v === 'object' && !Buffer.isBuffer(v));

/** The statements that insert `rows`, in order. */
export function* insertStatements(table: string, columns: string[], rows: SqlValue[][]): Generator<Queued> {
  const ncols = columns.length;
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_VARIABLES / Math.max(1, ncols))));
  const head = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES `;
  const plainTuple = `(${Array(ncols).fill('?').join(', ')})`;
  const what = `a batch of table "${table}"`;
  for (let i = 0; i < rows.length; ) {
    const end = Math.min(rows.length, i + perStatement);
    const tuples: string[] = [];
    const args: unknown[] = [];
    let bytes = head.length;
    for (; i < end; i++) {
      const row = rows[i]!;
      let special = false;
      for (const v of row) {
        bytes += jsonValueBytes(v);
        if (needsLiteral(v)) special = true;
      }
      if (!special) {
        tuples.push(plainTuple);
        for (const v of row) args.push(v);
      } else {
        const frags: string[] = [];
        for (const v of row) {
          const [frag, ...arg] = bindValue(v);
          frags.push(frag);
          if (arg.length) args.push(arg[0]);
        }
        tuples.push(`(${frags.join(', ')})`);
      }
      bytes += plainTuple.length + 2;
      if (bytes >= remoteTuning.requestBytes) {
        i++;
        break;
      }
    }
    yield { stmt: { sql: head + tuples.join(', '), args: args as never }, what, bytes };
  }
}
