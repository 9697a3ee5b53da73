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
export const MAX_ROWS_PER_STATEMENT = 512;

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
 * Appends one row's `(…)` to `parts`: each value as its literal, else as bindValue writes it (a `?` whose argument is
 * appended to `args`, or the literal, scaled float or cast the client cannot send as itself). Returns the row's
 * estimated request bytes. Pieces go into one array joined once per statement: building each tuple as a string of
 * its own made a deep rope that the client's UTF-8 encoding then had to flatten: building and encoding the
 * statements took twice the CPU (docs/BENCHMARKS.md "Remote", session 19).
 */
function pushTuple(parts: string[], row: SqlValue[], args: unknown[], exactFloats: boolean): number {
  let bytes = 0;
  for (let k = 0; k < row.length; k++) {
    const v = row[k];
    parts.push(k ? ', ' : '(');
    bytes += jsonValueBytes(v);
    // TEXT, the commonest value, without inlineValue's template: its quotes go in as pieces of their own.
    if (typeof v === 'string' && !v.includes('\0')) {
      parts.push("'", v.includes("'") ? v.replaceAll("'", "''") : v, "'");
      continue;
    }
    const frag = inlineValue(v);
    if (frag !== null) {
      parts.push(frag);
      continue;
    }
    const bound = bindValue(v, exactFloats);
    parts.push(bound[0]);
    if (bound.length > 1) args.push(bound[1]);
  }
  parts.push(')');
  return bytes;
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
  // What a tuple of `?`s would add: `(?, ?, …)` and the `, ` between tuples.
  const tupleBytes = 3 * ncols + 2;
  const what = `a batch of table "${table}"`;
  for (let i = 0; i < rows.length; ) {
    const end = Math.min(rows.length, i + perStatement);
    const parts: string[] = [head];
    const args: unknown[] = [];
    let bytes = head.length;
    for (const first = i; i < end; ) {
      if (i > first) parts.push(', ');
      bytes += pushTuple(parts, rows[i]!, args, exactFloats) + tupleBytes;
      i++;
      if (bytes >= remoteTuning.requestBytes) break;
    }
    yield { stmt: { sql: parts.join(''), args: args as never }, what, bytes };
  }
}
