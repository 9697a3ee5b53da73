/**
 * Multi-row INSERTs for a load over HTTP: up to 512 rows per statement within SQLite's variable limit, closed early
 * at the request size. Each value keeps its exact storage class: most are written as SQL literals in the statement
 * (inlineValue), the rest bound as arguments (values the client cannot send as themselves — ±Infinity, -0.0, REALs
 * sqld would misread, TEXT that is not UTF-8 — as literals, scaled floats or casts: hrana/exact.ts).
 */
import type { SqlValue } from '../../format/values.js';
import { q } from '../url.js';
import { remoteTuning } from './config.js';
import { bindValue, jsonValueBytes } from './exact.js';
import type { Queued } from './pipeline.js';

/** SQLite's default SQLITE_MAX_VARIABLE_NUMBER (3.32+), which sqld's libSQL keeps. */
const MAX_VARIABLES = 32766;
/** Rows per multi-row INSERT statement (fewer, larger statements: less per-statement work on the server). */
const MAX_ROWS_PER_STATEMENT = 512;

const MIN_INT64 = -(2n ** 63n);

/**
 * The SQL literal that stores exactly what binding `v` stores, or null when it must be bound. The client encodes each
 * argument as a JSON object of its own, which cost most of a remote restore's CPU (docs/BENCHMARKS.md "Remote");
 * literals travel inside the statement's text, which is encoded once. Only values whose literal SQLite reads back
 * exactly: NULL; INTEGER (the smallest one stays bound, as its literal is a negated out-of-range number); TEXT
 * without NUL (which ends SQL text); a REAL with an integral value below 2^53, written `N.0` (a REAL literal stores
 * what a float argument stores, under every column affinity). Other REALs and BLOBs stay bound.
 */
export function inlineValue(v: unknown): string | null {
  switch (typeof v) {
    case 'string':
      return v.includes('\0') ? null : `'${v.replaceAll("'", "''")}'`;
    case 'bigint':
      return v === MIN_INT64 ? null : String(v);
    case 'number':
      return Number.isInteger(v) && Math.abs(v) < 2 ** 53 && !Object.is(v, -0) ? `${v}.0` : null;
    default:
      return v === null ? 'NULL' : null;
  }
}

/**
 * One row's `(…)`: each value as its literal, else as bindValue writes it (a `?` whose argument is appended to
 * `args`, or the literal, scaled float or cast the client cannot send as itself). Adds the row's estimated request
 * bytes to `size` in the same pass.
 */
function rowTuple(row: SqlValue[], args: unknown[], size: { bytes: number }, exactFloats: boolean): string {
  let tuple = '(';
  for (let k = 0; k < row.length; k++) {
    size.bytes += jsonValueBytes(row[k]);
    let frag = inlineValue(row[k]);
    if (frag === null) {
      const bound = bindValue(row[k], exactFloats);
      frag = bound[0];
      if (bound.length > 1) args.push(bound[1]);
    }
    tuple += k ? `, ${frag}` : frag;
  }
  return `${tuple})`;
}

/**
 * The statements that insert `rows`, in order. `exactFloats` (Protobuf): every finite REAL is bound as itself, where
 * the JSON encoding needs some rewritten (exact.ts bindValue). Writing them as exact literal expressions instead was
 * measured: the same client CPU, and the server's parsing made the load slower.
 */
export function* insertStatements(table: string, columns: string[], rows: SqlValue[][], exactFloats = false): Generator<Queued> {
  const ncols = columns.length;
  const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_VARIABLES / Math.max(1, ncols))));
  const head = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES `;
  const plainTuple = `(${Array(ncols).fill('?').join(', ')})`;
  const what = `a batch of table "${table}"`;
  for (let i = 0; i < rows.length; ) {
    const end = Math.min(rows.length, i + perStatement);
    const tuples: string[] = [];
    const args: unknown[] = [];
    const size = { bytes: head.length };
    for (; i < end; i++) {
      tuples.push(rowTuple(rows[i]!, args, size, exactFloats));
      size.bytes += plainTuple.length + 2;
      if (size.bytes >= remoteTuning.requestBytes) {
        i++;
        break;
      }
    }
    yield { stmt: { sql: head + tuples.join(', '), args: args as never }, what, bytes: size.bytes };
  }
}
