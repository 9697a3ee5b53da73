/**
 * A protocol-level stand-in for sqld's (libSQL server) Hrana-over-HTTP interface, so tests can
 * drive the real `@libsql/client` against `http://127.0.0.1:PORT` without a sqld binary.
 *
 * Everything here mirrors what sqld does (libsql-server/src/hrana/**, libsql-hrana/src/proto.rs);
 * see docs/notes-hrana.md for the sources and for the few deliberate deviations.
 *
 * Usage as a library: `startHranaServer({ db: '/tmp/x.db' })`.
 * Usage as a CLI:     `npx tsx test/support/hrana-server.ts --db FILE --port N [--token T]
 *                      [--latency-ms N] [--fail-every N] [--fail-mode 503|reset]
 *                      [--fail-after-execute] [--stream-idle-ms N] [--max-response-bytes N] [--json-only]`
 *
 * Both encodings of sqld are spoken: JSON (`/v2/pipeline`, `/v3/pipeline`, `/v3/cursor`) and Protobuf
 * (`/v3-protobuf/pipeline`, `/v3-protobuf/cursor`, see hrana-protobuf.ts); `encodings` turns one off.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import Database from 'libsql';
import {
  DecodedValue,
  PROTOBUF_NONE,
  ProtobufDecodeError,
  decodeCursorReq,
  decodePipelineReq,
  encodeCursorBody,
  encodeError,
  encodePipelineResp,
  loadHranaProtobuf,
  type BatchResultOut,
  type CursorEntryOut,
  type DescribeResultOut,
  type ErrorOut,
  type SqlValue,
  type StmtResultOut,
  type StreamResponseOut,
  type StreamResultOut,
} from './hrana-protobuf.js';

// ---------------------------------------------------------------------------------------------
// Public API
// ---------------------------------------------------------------------------------------------

export interface HranaServerOptions {
  /** SQLite database file served by this server (created if missing). */
  db: string;
  /** TCP port; 0 (default) picks a free one. */
  port?: number;
  /** Interface to bind; default 127.0.0.1. */
  host?: string;
  /** When set, `Authorization: Bearer <token>` is required on Hrana endpoints. */
  token?: string;
  /** Delay every HTTP request by this many ms before handling it. */
  latencyMs?: number;
  /** Every Nth Hrana POST fails (see failMode / failAfterExecute). 0/undefined = never. */
  failEvery?: number;
  /** '503' (default): answer HTTP 503. 'reset': destroy the socket without a response. */
  failMode?: '503' | 'reset';
  /** Execute the failing request first and only then lose the response (idempotency tests). */
  failAfterExecute?: boolean;
  /** Idle time after which a stream (baton) expires; sqld uses 10 s. */
  streamIdleMs?: number;
  /** sqld's --max-response-size (default 10 MB), enforced with sqld's size estimate. */
  maxResponseBytes?: number;
  /** How long a statement waits for a lock before failing with SQLITE_BUSY (sqld: 5 s). */
  busyTimeoutMs?: number;
  /**
   * Encodings served (default both, as sqld). Without 'protobuf', `/v3-protobuf*` answer 404, so
   * `@libsql/hrana-client` at protocol 3 falls back to v2 JSON, as against a server without Protobuf.
   */
  encodings?: readonly Encoding[];
}

/** Hrana's two encodings; sqld serves both. */
export type Encoding = 'json' | 'protobuf';

/** The encodings a contract suite runs its remote backend on, each with what the server then speaks. */
export const ENCODINGS: readonly Encoding[] = ['protobuf', 'json'];
export const encodingLabel = (e: Encoding) => (e === 'protobuf' ? 'Hrana 3 Protobuf' : 'Hrana 2 JSON only');

export interface HranaServerStats {
  /** Hrana POST requests received (the requests that failEvery counts). */
  requests: number;
  /** Requests failed on purpose by failEvery. */
  failed: number;
}

export interface HranaServer {
  url: string;
  port: number;
  close(): Promise<void>;
  stats: HranaServerStats;
}

/** Starts the stand-in on `opts.port` (0: a free port); resolves once it is listening. */
export async function startHranaServer(opts: HranaServerOptions): Promise<HranaServer> {
  const config = withDefaults(opts);
  if (config.encodings.includes('protobuf')) loadHranaProtobuf();
  prepareDatabaseFile(config.db);
  const ctx: ServerContext = {
    config,
    routes: routesFor(config.encodings),
    stats: { requests: 0, failed: 0 },
    streams: new StreamRegistry(() => new SqlConnection(config.db, config.busyTimeoutMs), config.streamIdleMs),
  };
  const server = http.createServer((req, res) => {
    handleHttp(ctx, req, res).catch((err: unknown) => sendReply(res, internalErrorReply(err)));
  });
  const port = await listen(server, config.port, config.host);
  let closing: Promise<void> | undefined;
  return {
    url: `http://${config.host}:${port}`,
    port,
    stats: ctx.stats,
    close: () => (closing ??= closeServer(server, ctx.streams)),
  };
}

// ---------------------------------------------------------------------------------------------
// Constants taken from sqld
// ---------------------------------------------------------------------------------------------

/** libsql-server/src/hrana/http/stream.rs: expired handles are kept this long for nice errors. */
const EXPIRED_CLEANUP_MS = 300_000;
/** libsql-server/src/hrana/http/request.rs */
const MAX_SQL_COUNT = 50;
const MAX_STORED_SQL_BYTES = 5_000; // ByteSize::kb(5)
/** libsql-server/src/config.rs: max_response_size default. */
const DEFAULT_MAX_RESPONSE_BYTES = 10 * 1024 * 1024;
/** GET /v2, /v3 and /v3-protobuf body (libsql-server/src/hrana/http/mod.rs handle_index). */
const INDEX_TEXT = 'Hello, this is HTTP API v2 (Hrana over HTTP)';
const VERSION_TEXT = 'sqld 0.0.0-standin (00000000 test/support/hrana-server.ts)';

type ResolvedOptions = Required<Omit<HranaServerOptions, 'token'>> & { token?: string };

function withDefaults(opts: HranaServerOptions): ResolvedOptions {
  return {
    db: opts.db,
    port: opts.port ?? 0,
    host: opts.host ?? '127.0.0.1',
    token: opts.token,
    latencyMs: opts.latencyMs ?? 0,
    failEvery: opts.failEvery ?? 0,
    failMode: opts.failMode ?? '503',
    failAfterExecute: opts.failAfterExecute ?? false,
    streamIdleMs: opts.streamIdleMs ?? 10_000,
    maxResponseBytes: opts.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES,
    busyTimeoutMs: opts.busyTimeoutMs ?? 5_000,
    encodings: opts.encodings ?? ['json', 'protobuf'],
  };
}

// ---------------------------------------------------------------------------------------------
// Errors, classified by how sqld reports them
// ---------------------------------------------------------------------------------------------

/** sqld's ProtocolError: HTTP 400 text/plain; the stream is dropped (guard not released). */
class ProtocolError extends Error {}

/** sqld's StreamError::StreamExpired: HTTP 400 with a proto `Error {message, code}` in the request's encoding. */
class StreamExpiredError extends Error {
  readonly code = 'STREAM_EXPIRED';
  constructor() {
    super('The stream has expired due to inactivity');
  }
}

/** sqld's AuthError: HTTP 401 `{"error": "Unauthorized: `...`"}`. */
class AuthError extends Error {}

/** Errors that sqld reports inside the pipeline as `{"type":"error","error":{message,code}}`. */
class ResultError extends Error {
  /** Set when the failing statement had already described its columns (cursor step_begin). */
  cols?: ColumnInfo[];
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
  toProto(): ErrorOut {
    return { message: this.message, code: this.code };
  }
}

const responseTooLarge = () => new ResultError('Response is too large', 'RESPONSE_TOO_LARGE');
const argsInvalid = (why: string) => new ResultError(`Arguments do not match SQL parameters: ${why}`, 'ARGS_INVALID');
const sqlParseError = (why: string) => new ResultError(`SQL string could not be parsed: ${why}`, 'SQL_PARSE_ERROR');
const jsonDecodeError = (why: string) => new ProtocolError(`Cannot deserialize client message from JSON: ${why}`);

// ---------------------------------------------------------------------------------------------
// JSON output (serde_json-compatible where it matters)
// ---------------------------------------------------------------------------------------------

function formatFloat(x: number): string {
  if (!Number.isFinite(x)) return 'null'; // serde_json: non-finite floats become null
  if (Object.is(x, -0)) return '-0.0';
  const s = String(x).replace('e+', 'e');
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/**
 * serde_json's rendering of the response shapes. Like serde, it knows the Rust type behind a field:
 * `rows`/`row` hold Values (tagged objects, blobs in base64), `query_duration_ms` is an f64, and
 * every i64 (a bigint here) is written as a decimal string (proto.rs `i64_as_str`).
 */
function toJson(v: unknown): string {
  const out: string[] = [];
  writeJson(v, undefined, out);
  return out.join(''); // one copy: nested template strings would copy multi-MB rows at every level
}

function writeJson(v: unknown, key: string | undefined, out: string[]): void {
  if (v === null || v === undefined) out.push('null');
  else if (key === 'rows') writeList(v as SqlValue[][], (row) => writeRow(row, out), out);
  else if (key === 'row') writeRow(v as SqlValue[], out);
  else if (key === 'query_duration_ms') out.push(formatFloat(v as number));
  else if (typeof v === 'bigint') out.push(`"${v}"`);
  else if (Array.isArray(v)) writeList(v, (x) => writeJson(x, undefined, out), out);
  else if (typeof v === 'object') {
    out.push('{');
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined) continue;
      out.push(first ? `${JSON.stringify(k)}:` : `,${JSON.stringify(k)}:`);
      first = false;
      writeJson(x, k, out);
    }
    out.push('}');
  } else out.push(JSON.stringify(v));
}

function writeList<T>(items: T[], write: (item: T) => void, out: string[]): void {
  out.push('[');
  items.forEach((item, i) => {
    if (i > 0) out.push(',');
    write(item);
  });
  out.push(']');
}

const writeRow = (row: SqlValue[], out: string[]) => writeList(row, (v) => writeValue(v, out), out);

/** proto.rs `Value` through serde: integers as strings, floats as f64, BLOBs STANDARD_NO_PAD base64. */
function writeValue(v: SqlValue, out: string[]): void {
  if (v === null) out.push('{"type":"null"}');
  else if (typeof v === 'bigint') out.push(`{"type":"integer","value":"${v}"}`);
  else if (typeof v === 'number') out.push(`{"type":"float","value":${formatFloat(v)}}`);
  else if (typeof v === 'string') out.push('{"type":"text","value":', JSON.stringify(v), '}');
  else out.push('{"type":"blob","base64":"', v.toString('base64').replace(/=+$/, ''), '"}');
}

// ---------------------------------------------------------------------------------------------
// SQL lexing: statement splitting, parameter table and sqld's statement classification
// ---------------------------------------------------------------------------------------------

interface Token {
  kind: 'word' | 'literal' | 'param' | 'punct' | 'semi';
  text: string;
  upper: string;
  start: number;
  end: number;
}

const isIdStart = (c: string) => /[A-Za-z_]/.test(c) || c >= '\u0080';
const isIdChar = (c: string | undefined) => c !== undefined && (/[A-Za-z0-9_$]/.test(c) || c >= '\u0080');
const NUMBER_RE = /(?:0[xX][0-9a-fA-F]+|(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)[A-Za-z0-9_]*/y;

/** Tokenizes like SQLite does for the purposes we need; comments and whitespace are dropped. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  const push = (kind: Token['kind'], start: number, end: number) => {
    const text = sql.slice(start, end);
    tokens.push({ kind, text, upper: text.toUpperCase(), start, end });
  };
  let i = 0;
  while (i < sql.length) {
    const start = i;
    const c = sql[i]!;
    const next = sql[i + 1];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? sql.length : nl + 1;
    } else if (c === '/' && next === '*') {
      const close = sql.indexOf('*/', i + 2);
      i = close < 0 ? sql.length : close + 2;
    } else if (c === "'" || c === '"' || c === '`') {
      i = skipQuoted(sql, i, c);
      push(c === "'" ? 'literal' : 'word', start, i);
    } else if (c === '[') {
      const close = sql.indexOf(']', i);
      i = close < 0 ? sql.length : close + 1;
      push('word', start, i);
    } else if ((c === 'x' || c === 'X') && next === "'") {
      i = skipQuoted(sql, i + 1, "'");
      push('literal', start, i);
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(next ?? ''))) {
      NUMBER_RE.lastIndex = i;
      NUMBER_RE.exec(sql);
      i = Math.max(NUMBER_RE.lastIndex, i + 1);
      push('literal', start, i);
    } else if (c === '?') {
      i++;
      while (/[0-9]/.test(sql[i] ?? '')) i++;
      push('param', start, i);
    } else if ((c === ':' || c === '@' || c === '$') && isIdChar(next)) {
      i++;
      while (isIdChar(sql[i])) i++;
      push('param', start, i);
    } else if (isIdStart(c)) {
      while (isIdChar(sql[i])) i++;
      push('word', start, i);
    } else {
      i++;
      push(c === ';' ? 'semi' : 'punct', start, i);
    }
  }
  return tokens;
}

/** Index just past a quoted token; doubled quotes are escapes. Unterminated runs to the end. */
function skipQuoted(sql: string, i: number, quote: string): number {
  for (let j = i + 1; j < sql.length; j++) {
    if (sql[j] !== quote) continue;
    if (sql[j + 1] === quote) j++;
    else return j + 1;
  }
  return sql.length;
}

interface SqlStatement {
  tokens: Token[];
  /** The statement's source text without the terminating semicolon or trailing comments. */
  text: string;
}

/** Splits SQL into statements; semicolons inside CREATE TRIGGER ... BEGIN ... END do not split. */
function splitStatements(sql: string): SqlStatement[] {
  const statements: SqlStatement[] = [];
  let current: Token[] = [];
  const flush = () => {
    if (current.length === 0) return;
    const last = current[current.length - 1]!;
    statements.push({ tokens: current, text: sql.slice(current[0]!.start, last.end) });
    current = [];
  };
  for (const tok of tokenize(sql)) {
    if (tok.kind === 'semi' && !insideTriggerBody(current)) flush();
    else current.push(tok);
  }
  flush();
  return statements;
}

function insideTriggerBody(tokens: Token[]): boolean {
  const words = tokens.filter((t) => t.kind === 'word').map((t) => t.upper);
  const triggerAt = words[1] === 'TEMP' || words[1] === 'TEMPORARY' ? 2 : 1;
  if (words[0] !== 'CREATE' || words[triggerAt] !== 'TRIGGER') return false;
  let begun = false;
  let caseDepth = 0;
  for (const w of words) {
    if (!begun) begun = w === 'BEGIN';
    else if (w === 'CASE') caseDepth++;
    else if (w === 'END' && caseDepth > 0) caseDepth--;
    else if (w === 'END') return false;
  }
  return begun;
}

/** What sqld's query_analysis.rs derives from a statement, plus what describe needs. */
interface StmtInfo {
  /** INSERT/UPDATE/DELETE: only these report affected_row_count (program.rs). */
  isIud: boolean;
  /** Only INSERTs report last_insert_rowid. */
  isInsert: boolean;
  /** A plain SELECT/VALUES query (possibly with WITH): read through the exact-text wrapper. */
  isSelect: boolean;
  isExplain: boolean;
  /** Approximation of sqlite3_stmt_readonly() for describe. */
  readonly: boolean;
}

const kindOf = (info: Partial<StmtInfo>): StmtInfo => ({
  isIud: false,
  isInsert: false,
  isSelect: false,
  isExplain: false,
  readonly: false,
  ...info,
});

/**
 * sqld only runs statements its parser classifies (StmtKind::kind); anything else fails with
 * "unsupported statement" (e.g. VACUUM, ANALYZE, temp tables, most PRAGMAs with arguments).
 */
function classify(tokens: Token[]): StmtInfo | undefined {
  const kw = (i: number) => (tokens[i]?.kind === 'word' ? tokens[i].upper : '');
  switch (kw(0)) {
    case 'SELECT':
    case 'VALUES':
      return kindOf({ isSelect: true, readonly: true });
    case 'WITH':
      return classifyMainKeyword(mainKeywordAfterWith(tokens));
    case 'INSERT':
    case 'REPLACE':
    case 'UPDATE':
    case 'DELETE':
      return classifyMainKeyword(kw(0));
    case 'EXPLAIN':
      return kindOf({ isExplain: true, readonly: true });
    case 'BEGIN':
    case 'COMMIT':
    case 'END':
    case 'ROLLBACK':
    case 'SAVEPOINT':
    case 'RELEASE':
      return kindOf({ readonly: true });
    case 'CREATE':
      return isSupportedCreate(tokens) ? kindOf({}) : undefined;
    case 'DROP':
      return ['TABLE', 'INDEX', 'TRIGGER', 'VIEW'].includes(kw(1)) ? kindOf({}) : undefined;
    case 'ALTER':
      return kw(1) === 'TABLE' ? kindOf({}) : undefined;
    case 'REINDEX':
      return kindOf({});
    case 'PRAGMA':
      return classifyPragma(tokens);
    default:
      return undefined;
  }
}

function classifyMainKeyword(keyword: string): StmtInfo | undefined {
  if (keyword === 'SELECT' || keyword === 'VALUES') return kindOf({ isSelect: true, readonly: true });
  if (keyword === 'INSERT' || keyword === 'REPLACE') return kindOf({ isIud: true, isInsert: true });
  if (keyword === 'UPDATE' || keyword === 'DELETE') return kindOf({ isIud: true });
  return undefined;
}

/** The statement keyword following `WITH cte AS (...), ...` (first keyword at paren depth 0). */
function mainKeywordAfterWith(tokens: Token[]): string {
  let depth = 0;
  for (const tok of tokens.slice(1)) {
    if (tok.text === '(') depth++;
    else if (tok.text === ')') depth--;
    else if (depth === 0 && tok.kind === 'word' && classifyMainKeyword(tok.upper)) return tok.upper;
  }
  return '';
}

function isSupportedCreate(tokens: Token[]): boolean {
  const words = tokens.filter((t) => t.kind === 'word').map((t) => t.upper);
  const temporary = words[1] === 'TEMP' || words[1] === 'TEMPORARY';
  const object = words[temporary ? 2 : 1];
  // sqld's is_temp() compares the schema name with "TEMP" exactly (case-sensitive).
  const tempSchema = tokens[3]?.text === '.' && tokens[2]?.text === 'TEMP';
  if (object === 'UNIQUE' || object === 'INDEX') return true;
  if (object === 'VIRTUAL') return !tempSchema;
  if (object === 'TABLE') return !temporary && !tempSchema;
  return (object === 'TRIGGER' || object === 'VIEW') && !temporary;
}

/** libsql-server/src/query_analysis.rs pragma_kind(). */
const PRAGMAS_ALWAYS_READ = new Set([
  'table_list',
  'index_list',
  'table_info',
  'table_xinfo',
  'index_info',
  'index_xinfo',
  'pragma_list',
  'compile_options',
  'database_list',
  'function_list',
  'module_list',
  'encoding',
]);
const PRAGMAS_ALWAYS_WRITE = new Set([
  'defer_foreign_keys',
  'foreign_keys',
  'foreign_key_list',
  'foreign_key_check',
  'collation_list',
  'data_version',
  'freelist_count',
  'integrity_check',
  'legacy_file_format',
  'page_count',
  'quick_check',
  'stats',
  'user_version',
]);
const PRAGMAS_WITHOUT_ARGS = new Set([
  'analysis_limit',
  'application_id',
  'auto_vacuum',
  'automatic_index',
  'busy_timeout',
  'cache_size',
  'cache_spill',
  'cell_size_check',
  'checkpoint_fullfsync',
  'fullfsync',
  'hard_heap_limit',
  'journal_mode',
  'journal_size_limit',
  'legacy_alter_table',
  'locking_mode',
  'max_page_count',
  'mmap_size',
  'page_size',
  'query_only',
  'read_uncommitted',
  'recursive_triggers',
  'reverse_unordered_selects',
  'secure_delete',
  'soft_heap_limit',
  'synchronous',
  'temp_store',
  'threads',
  'trusted_schema',
  'wal_autocheckpoint',
]);

function classifyPragma(tokens: Token[]): StmtInfo | undefined {
  const nameAt = tokens[2]?.text === '.' ? 3 : 1;
  const name = (tokens[nameAt]?.text ?? '').toLowerCase();
  const hasBody = tokens.length > nameAt + 1;
  if (PRAGMAS_ALWAYS_READ.has(name) || (name === 'schema_version' && !hasBody)) {
    return kindOf({ readonly: true });
  }
  if (PRAGMAS_ALWAYS_WRITE.has(name)) return kindOf({ readonly: !hasBody });
  if (PRAGMAS_WITHOUT_ARGS.has(name) && !hasBody) return kindOf({ readonly: true });
  return undefined;
}

/**
 * Parameter names by index, as sqlite3_bind_parameter_name() would report them: `?` has no name,
 * `?NNN` is named "?NNN" and sits at index NNN, `:x`/`@x`/`$x` get the next free index.
 */
function parameterNames(tokens: Token[]): (string | null)[] {
  const names: (string | null)[] = [];
  const indexByName = new Map<string, number>();
  for (const tok of tokens) {
    if (tok.kind !== 'param') continue;
    if (tok.text === '?') {
      names.push(null);
      continue;
    }
    let index = indexByName.get(tok.text);
    if (index === undefined) {
      index = tok.text[0] === '?' ? Number(tok.text.slice(1)) : names.length + 1;
      if (!(index >= 1 && index <= 32766)) continue; // SQLite rejects it at prepare time
      indexByName.set(tok.text, index);
    }
    while (names.length < index) names.push(null);
    names[index - 1] ??= tok.text;
  }
  return names;
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

const I64_MIN = -(2n ** 63n);
const I64_MAX = 2n ** 63n - 1n;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/** A Value argument: JSON arrives as `{type, value}`; Protobuf already decoded (hrana-protobuf.ts). */
function decodeValue(raw: unknown): SqlValue {
  if (raw instanceof DecodedValue) {
    if (raw.value === undefined) throw new ProtocolError('Value type not recognized'); // sqld's Value::None
    return raw.value;
  }
  const obj = asObject(raw, 'Value');
  switch (obj.type) {
    case 'null':
      return null;
    case 'integer': {
      const text = obj.value;
      const value = typeof text === 'string' && /^[+-]?\d+$/.test(text) ? BigInt(text) : undefined;
      if (value === undefined || value < I64_MIN || value > I64_MAX) {
        throw jsonDecodeError(`invalid value: ${JSON.stringify(text)}, expected decimal integer as a string`);
      }
      return value;
    }
    case 'float':
      if (typeof obj.value !== 'number') throw jsonDecodeError('invalid type: expected f64');
      return serdeF64(obj.value);
    case 'text':
      if (typeof obj.value !== 'string') throw jsonDecodeError('invalid type: expected a string');
      return obj.value;
    case 'blob':
      // sqld trims '=' and decodes STANDARD_NO_PAD, so padded and unpadded input both work.
      if (typeof obj.base64 !== 'string' || !BASE64_RE.test(obj.base64)) {
        throw jsonDecodeError('invalid value, expected binary data encoded as base64');
      }
      return Buffer.from(obj.base64, 'base64');
    default:
      throw jsonDecodeError(`unknown variant ${JSON.stringify(obj.type)} of Value`);
  }
}

/** serde_json's f64 table (de.rs POW10): the correctly rounded literals 1e0 … 1e308. */
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));
const U64_MAX = 2n ** 64n - 1n;

/**
 * The f64 sqld gets from a JSON float argument. sqld's serde_json is built without its `float_roundtrip` feature
 * (libsql-server/Cargo.toml: `serde_json = { …, features = ["preserve_order"] }`), so it parses a number as
 * `significand as f64` times or divided by one power of ten (de.rs `f64_from_parts`): a 17-digit decimal can come
 * out one ULP off (serde-rs/json#707, #937). JSON.parse is exact; this redoes serde's arithmetic on the number's
 * shortest decimal form (what @libsql/client and our client send: JavaScript's `"" + n`).
 */
export function serdeF64(v: number): number {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]?\d+))?$/.exec(String(v));
  if (!m) return v; // ±0 and non-finite values never reach here as JSON numbers worth redoing
  const [, sign, int, frac = '', exp = '0'] = m;
  let significand = 0n;
  let exponent = Number(exp);
  let overflowed = false;
  for (const [digits, isFraction] of [
    [int!, false],
    [frac, true],
  ] as const) {
    for (const d of digits) {
      // serde stops adding digits once the significand would pass u64::MAX (it then counts integer digits only).
      if (!overflowed && significand * 10n + BigInt(d) <= U64_MAX) {
        significand = significand * 10n + BigInt(d);
        if (isFraction) exponent--;
      } else {
        overflowed = true;
        if (!isFraction) exponent++;
      }
    }
  }
  if (frac === '' && exp === '0' && !overflowed) return sign ? -Number(significand) : Number(significand); // an integer: `u64 as f64`
  let f = Number(significand);
  for (;;) {
    const pow = POW10[Math.abs(exponent)];
    if (pow !== undefined) {
      f = exponent >= 0 ? f * pow : f / pow;
      break;
    }
    if (f === 0) break;
    f /= 1e308;
    exponent += 308;
  }
  return sign ? -f : f;
}

/** sqld's value_json_size() estimate (result_builder.rs), used for the response size limit. */
function valueJsonSize(v: SqlValue): number {
  if (v === null) return 15; // {"type":"null"}
  if (typeof v === 'bigint') return 29 + v.toString().length;
  if (typeof v === 'number') return 26 + (Number.isInteger(v) ? BigInt(v).toString() : String(v)).length;
  if (typeof v === 'string') return 26 + Buffer.byteLength(v);
  return v.length; // blobs count raw bytes
}

interface ColumnInfo {
  name: string;
  decltype: string | null;
}

/** sqld's estimate_cols_json_size(). */
const colJsonSize = (c: ColumnInfo) => Buffer.byteLength(`{"name":"${c.name}","decltype":"${c.decltype ?? 'null'}"}`);

/** Mirrors sqld's per-request response size accounting (QueryBuilderConfig::max_size). */
class ResponseBudget {
  used = 0;
  constructor(readonly max: number) {}
  add(bytes: number): void {
    if (this.used + bytes > this.max) throw responseTooLarge();
    this.used += bytes;
  }
}

// ---------------------------------------------------------------------------------------------
// Database connections (one per stream, like sqld)
// ---------------------------------------------------------------------------------------------

type NativeStatement = Database.Statement;

/** sqld's user databases are WAL databases; WAL also lets readers run beside a writer. */
function prepareDatabaseFile(file: string): void {
  const db = new Database(file, { timeout: 5_000 });
  try {
    db.prepare('PRAGMA journal_mode=WAL').raw(true).all([]);
  } finally {
    db.close();
  }
}

class SqlConnection {
  private readonly db: Database.Database;
  private closed = false;
  private changesStmt?: NativeStatement;

  constructor(
    file: string,
    readonly busyTimeoutMs: number,
  ) {
    // No native busy timeout: a synchronous wait would block the event loop, and with it the
    // stream that holds the lock. withBusyRetry() waits asynchronously instead.
    this.db = new Database(file, { timeout: 0 });
    // sqld's libsql is built with SQLITE_DEFAULT_FOREIGN_KEYS=1 (libsql-ffi/build.rs).
    this.db.exec('PRAGMA foreign_keys=ON');
  }

  prepare(sql: string): NativeStatement {
    return this.db.prepare(sql);
  }

  get isAutocommit(): boolean {
    return !this.db.inTransaction;
  }

  /** sqlite3_changes() and sqlite3_last_insert_rowid() of this connection. */
  changesAndRowid(): [bigint, bigint] {
    this.changesStmt ??= this.db.prepare('SELECT changes(), last_insert_rowid()').raw(true).safeIntegers(true);
    return this.changesStmt.all([])[0] as [bigint, bigint];
  }

  async withBusyRetry<T>(run: () => T): Promise<T> {
    const deadline = Date.now() + this.busyTimeoutMs;
    for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
      try {
        return run();
      } catch (err) {
        if (sqliteCode(err) !== 'SQLITE_BUSY' || Date.now() >= deadline) throw err;
      }
      await sleep(delay);
    }
  }

  /** Closing must not leave a transaction behind (and with it the write lock). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
    } catch {
      // the connection is going away anyway
    }
    this.db.close();
  }
}

function sqliteCode(err: unknown): string | undefined {
  const code: unknown = err instanceof Error ? (err as Error & { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** rusqlite's ErrorCode names as sqld reports them; SQLITE_ERROR is rusqlite's "Unknown". */
const SQLD_SQLITE_CODES = new Set([
  'SQLITE_INTERNAL',
  'SQLITE_PERM',
  'SQLITE_ABORT',
  'SQLITE_BUSY',
  'SQLITE_LOCKED',
  'SQLITE_NOMEM',
  'SQLITE_READONLY',
  'SQLITE_INTERRUPT',
  'SQLITE_IOERR',
  'SQLITE_CORRUPT',
  'SQLITE_NOTFOUND',
  'SQLITE_FULL',
  'SQLITE_CANTOPEN',
  'SQLITE_PROTOCOL',
  'SQLITE_SCHEMA',
  'SQLITE_TOOBIG',
  'SQLITE_CONSTRAINT',
  'SQLITE_MISMATCH',
  'SQLITE_MISUSE',
  'SQLITE_NOLFS',
  'SQLITE_AUTH',
  'SQLITE_RANGE',
  'SQLITE_NOTADB',
]);

/** A SQLite failure while running a statement: `SQLite error: <msg>` with the primary code. */
function sqliteResultError(err: unknown): ResultError {
  const code = sqliteCode(err);
  if (code === undefined || !(err instanceof Error)) throw err;
  const primary = code.split('_').slice(0, 2).join('_');
  return new ResultError(`SQLite error: ${err.message}`, SQLD_SQLITE_CODES.has(primary) ? primary : 'SQLITE_UNKNOWN');
}

const SYNTAX_ERROR_RE = /syntax error|incomplete input|unrecognized token/;

/**
 * A failure while preparing. sqld's parser rejects syntax errors first (SQL_PARSE_ERROR);
 * rusqlite ("modern_sqlite") turns other SQLITE_ERRORs with a known offset into SQL_INPUT_ERROR.
 */
function prepareResultError(err: unknown, sql: string): ResultError {
  const code = sqliteCode(err);
  if (code === undefined || !(err instanceof Error)) throw err;
  if (SYNTAX_ERROR_RE.test(err.message)) return sqlParseError(err.message);
  const offset = errorOffset(err.message, sql);
  if (code === 'SQLITE_ERROR' && offset >= 0) {
    return new ResultError(`SQL input error: ${err.message} (at offset ${offset})`, 'SQL_INPUT_ERROR');
  }
  return sqliteResultError(err);
}

/** The native driver does not expose sqlite3_error_offset(); locate the offending name instead. */
function errorOffset(message: string, sql: string): number {
  const name = /^no such (?:table|column|function): (?:main\.)?(.+)$/.exec(message)?.[1];
  return name === undefined ? -1 : sql.indexOf(name);
}

function prepareOrFail(conn: SqlConnection, sql: string): NativeStatement {
  try {
    return conn.prepare(sql);
  } catch (err) {
    throw prepareResultError(err, sql);
  }
}

/** sqld's parser sees syntax errors before execution; schema errors only show up when run. */
function checkSyntax(conn: SqlConnection, sql: string): void {
  try {
    conn.prepare(sql);
  } catch (err) {
    if (err instanceof Error && SYNTAX_ERROR_RE.test(err.message)) throw sqlParseError(err.message);
  }
}

// ---------------------------------------------------------------------------------------------
// Statements: building queries from proto statements and executing them
// ---------------------------------------------------------------------------------------------

type Args = { kind: 'positional'; values: SqlValue[] } | { kind: 'named'; values: Map<string, SqlValue> };

interface Query {
  /** Exactly the SQL to prepare. */
  sql: string;
  /** The statement text without terminator (for the exact-text wrapper). */
  text: string;
  info: StmtInfo;
  paramNames: (string | null)[];
  args: Args;
}

interface ProtoStmt {
  sql?: string;
  sql_id?: number;
  args?: unknown[];
  named_args?: unknown[];
}

function resolveSql(sql: string | undefined, sqlId: number | undefined, sqls: Map<number, string>): string {
  if (sql !== undefined && sqlId !== undefined) {
    throw new ProtocolError('Either `sql` or `sql_id` are required, but not both');
  }
  if (sql !== undefined) return sql;
  if (sqlId === undefined) throw new ProtocolError('Either `sql` or `sql_id` are required');
  const stored = sqls.get(sqlId);
  if (stored === undefined) throw new ProtocolError(`SQL text ${sqlId} not found`);
  return stored;
}

/** sqld's proto_stmt_to_query(): exactly one supported statement plus its arguments. */
function buildQuery(conn: SqlConnection, stmt: ProtoStmt, sqls: Map<number, string>): Query {
  const sql = resolveSql(stmt.sql, stmt.sql_id, sqls);
  const [first, ...rest] = splitStatements(sql);
  if (first === undefined) throw new ResultError('SQL string does not contain any statement', 'SQL_NO_STATEMENT');
  const info = classify(first.tokens);
  if (info === undefined) throw sqlParseError(`unsupported statement: ${sql}`);
  if (rest.length > 0) throw new ResultError('SQL string contains more than one statement', 'SQL_MANY_STATEMENTS');
  checkSyntax(conn, sql);
  return { sql, text: first.text, info, paramNames: parameterNames(first.tokens), args: decodeArgs(stmt) };
}

function decodeArgs(stmt: ProtoStmt): Args {
  const positional = (stmt.args ?? []).map(decodeValue);
  const named = (stmt.named_args ?? []).map((raw) => {
    const arg = asObject(raw, 'NamedArg');
    if (typeof arg.name !== 'string') throw jsonDecodeError('missing field `name`');
    return [arg.name, decodeValue(arg.value)] as const;
  });
  if (named.length === 0) return { kind: 'positional', values: positional };
  if (positional.length > 0) {
    throw new ResultError('Specifying both positional and named arguments is not supported', 'ARGS_BOTH_POSITIONAL_AND_NAMED');
  }
  return { kind: 'named', values: new Map(named) };
}

/** sqld's Params::bind() (query.rs), producing a positional array for the native driver. */
function bindArgs(args: Args, paramNames: (string | null)[], lenient: boolean): SqlValue[] {
  const given = args.kind === 'positional' ? args.values.length : args.values.size;
  if (paramNames.length < given) {
    throw argsInvalid(`too many parameters, expected ${paramNames.length} found ${given}`);
  }
  const position = (i: number) => (args.kind === 'positional' ? args.values[i - 1] : undefined);
  const named = (n: string) => (args.kind === 'named' ? args.values.get(n) : undefined);
  const bound: SqlValue[] = [];
  for (const [i, name] of paramNames.entries()) {
    const value = name === null ? position(i + 1) : name.startsWith('?') ? position(Number(name.slice(1))) : (named(name) ?? named(name.slice(1)));
    if (value === undefined) {
      if (lenient) break; // sqld stops binding (and does not fail) for EXPLAIN
      throw argsInvalid(`value for parameter ${name ?? i + 1} not found`);
    }
    bound.push(value);
  }
  return bound;
}

interface StmtOutcome {
  cols: ColumnInfo[];
  rows: SqlValue[][];
  affectedRowCount: number;
  lastInsertRowid: bigint | null;
  durationMs: number;
}

/** Runs one query the way sqld's program.rs execute_query() does. */
async function executeQuery(conn: SqlConnection, q: Query, budget: ResponseBudget): Promise<StmtOutcome> {
  const started = performance.now();
  const stmt = prepareOrFail(conn, q.sql);
  const cols = stmt.columns().map((c) => ({ name: c.name, decltype: c.type }));
  budget.add(cols.reduce((n, c) => n + colJsonSize(c), 0));
  try {
    const bound = bindArgs(q.args, q.paramNames, q.info.isExplain);
    const exact = q.info.isSelect ? tryPrepareExact(conn, q.text, cols.length) : undefined;
    const mark = budget.used;
    const rows = await conn.withBusyRetry(() => {
      budget.used = mark; // a retried attempt starts over
      return readRows(stmt, exact, cols.length, bound, budget);
    });
    const [changes, rowid] = q.info.isIud ? conn.changesAndRowid() : [0n, 0n];
    return {
      cols,
      rows,
      affectedRowCount: Number(changes),
      lastInsertRowid: q.info.isInsert ? rowid : null,
      durationMs: performance.now() - started,
    };
  } catch (err) {
    const error = err instanceof ResultError ? err : sqliteResultError(err);
    error.cols = cols;
    throw error;
  }
}

/**
 * The native driver cuts TEXT at the first NUL (and aborts the process on invalid UTF-8), so
 * plain queries are read through a wrapper that returns every TEXT cell as its bytes plus a flag.
 * A CTE with an explicit column list keeps duplicate column names apart; SQLite keeps the inner
 * ORDER BY because the outer query is a plain scan (select.c, "Condition (5)").
 */
function tryPrepareExact(conn: SqlConnection, text: string, ncols: number): NativeStatement | undefined {
  const names = Array.from({ length: ncols }, (_, i) => `c${i}`);
  const cells = names.map((c) => `CASE WHEN typeof(${c})='text' THEN CAST(${c} AS BLOB) ELSE ${c} END, typeof(${c})='text'`);
  const sql = `WITH __hrana_exact(${names.join(',')}) AS (${text}\n) SELECT ${cells.join(', ')} FROM __hrana_exact`;
  try {
    return conn.prepare(sql);
  } catch {
    return undefined; // fall back to the plain statement
  }
}

function readRows(stmt: NativeStatement, exact: NativeStatement | undefined, ncols: number, bound: SqlValue[], budget: ResponseBudget): SqlValue[][] {
  if (!stmt.reader) {
    stmt.run(bound);
    return [];
  }
  const source = (exact ?? stmt).raw(true).safeIntegers(true);
  const iterator = source.iterate(bound) as IterableIterator<SqlValue[]>;
  const rows: SqlValue[][] = [];
  for (;;) {
    const next = iterator.next(); // SQLite errors propagate from here as-is
    if (next.done) return rows;
    try {
      const row = exact ? unwrapExactRow(next.value, ncols) : next.value;
      for (const v of row) budget.add(valueJsonSize(v));
      rows.push(row);
    } catch (err) {
      // Run the statement to completion so it does not stay active (and keep its locks).
      for (let r = iterator.next(); !r.done; r = iterator.next());
      throw err;
    }
  }
}

// ignoreBOM: a leading U+FEFF is part of the value (sqld's String::from_utf8 keeps it).
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function unwrapExactRow(raw: SqlValue[], ncols: number): SqlValue[] {
  const row: SqlValue[] = [];
  for (let i = 0; i < ncols; i++) {
    const value = raw[2 * i]!;
    row.push(raw[2 * i + 1] === 1n ? decodeText(value) : value);
  }
  return row;
}

/** sqld uses String::from_utf8(); invalid UTF-8 is an internal error, not a result error. */
function decodeText(bytes: SqlValue): string {
  if (!(bytes instanceof Uint8Array)) return '';
  try {
    return utf8.decode(bytes);
  } catch {
    throw new Error('invalid utf-8 sequence in a TEXT value');
  }
}

/** The result shape both encodings write: rows keep their raw values (see toJson, hrana-protobuf.ts). */
function stmtResult(o: StmtOutcome): StmtResultOut {
  return {
    cols: o.cols,
    rows: o.rows,
    affected_row_count: o.affectedRowCount,
    last_insert_rowid: o.lastInsertRowid,
    replication_index: null,
    // sqld reports SQLite's per-statement scan counters, which the native driver does not expose.
    rows_read: o.rows.length,
    rows_written: o.affectedRowCount,
    query_duration_ms: o.durationMs,
  };
}

// ---------------------------------------------------------------------------------------------
// Batches, sequences, describe
// ---------------------------------------------------------------------------------------------

type BatchCond =
  | { type: 'ok' | 'error'; step: number }
  | { type: 'not'; cond: BatchCond }
  | { type: 'and' | 'or'; conds: BatchCond[] }
  | { type: 'is_autocommit' };

interface BatchStep {
  query: Query;
  condition?: BatchCond;
}

/** sqld's proto_batch_to_program(): every step is parsed before anything runs. */
function buildBatch(conn: SqlConnection, raw: unknown, sqls: Map<number, string>, version: number): BatchStep[] {
  const batch = asObject(raw, 'Batch');
  return asArray(batch.steps, 'steps').map((rawStep, i) => {
    const step = asObject(rawStep, 'BatchStep');
    const condition = step.condition == null ? undefined : decodeCond(step.condition, i, version);
    return { query: buildQuery(conn, decodeStmt(step.stmt), sqls), condition };
  });
}

function decodeCond(raw: unknown, stepIndex: number, version: number): BatchCond {
  const cond = asObject(raw, 'BatchCond');
  switch (cond.type) {
    case 'ok':
    case 'error': {
      const step = cond.step;
      if (typeof step !== 'number') throw jsonDecodeError('missing field `step`');
      if (step >= stepIndex) throw new ProtocolError('Invalid reference to step in a batch condition');
      return { type: cond.type, step };
    }
    case 'not':
      return { type: 'not', cond: decodeCond(cond.cond, stepIndex, version) };
    case 'and':
    case 'or':
      return { type: cond.type, conds: asArray(cond.conds, 'conds').map((c) => decodeCond(c, stepIndex, version)) };
    case 'is_autocommit':
      if (version < 3) {
        throw new ProtocolError('BatchCond of type `is_autocommit` is only supported in protocol version hrana3 and higher');
      }
      return { type: 'is_autocommit' };
    case PROTOBUF_NONE:
      throw new ProtocolError('BatchCond type not recognized'); // sqld's BatchCond::None
    default:
      throw jsonDecodeError(`unknown variant ${JSON.stringify(cond.type)} of BatchCond`);
  }
}

function evalCond(cond: BatchCond, results: boolean[], autocommit: boolean): boolean {
  switch (cond.type) {
    case 'ok':
      return results[cond.step] ?? false;
    case 'error':
      return !results[cond.step];
    case 'not':
      return !evalCond(cond.cond, results, autocommit);
    case 'and':
      return cond.conds.every((c) => evalCond(c, results, autocommit));
    case 'or':
      return cond.conds.some((c) => evalCond(c, results, autocommit));
    case 'is_autocommit':
      return autocommit;
  }
}

/** Per-step outcome; a step that did not run (condition false) is undefined. */
type StepOutcome = { ok: StmtOutcome } | { error: ResultError } | undefined;

/**
 * Runs a batch like sqld's program executor: a failed or skipped step counts as "not ok" for
 * later conditions, and RESPONSE_TOO_LARGE aborts the whole batch (earlier steps stay applied).
 */
async function runBatch(conn: SqlConnection, steps: BatchStep[], budget: ResponseBudget, onStep: (index: number, outcome: StepOutcome) => void): Promise<void> {
  const results: boolean[] = [];
  for (const [i, step] of steps.entries()) {
    let outcome: StepOutcome;
    if (!step.condition || evalCond(step.condition, results, conn.isAutocommit)) {
      try {
        outcome = { ok: await executeQuery(conn, step.query, budget) };
      } catch (err) {
        if (!(err instanceof ResultError) || err.code === 'RESPONSE_TOO_LARGE') throw err;
        outcome = { error: err };
      }
    }
    results.push(outcome !== undefined && 'ok' in outcome);
    onStep(i, outcome);
  }
}

async function executeBatch(conn: SqlConnection, steps: BatchStep[], budget: ResponseBudget): Promise<BatchResultOut> {
  const stepResults: (StmtResultOut | null)[] = [];
  const stepErrors: (ErrorOut | null)[] = [];
  await runBatch(conn, steps, budget, (_i, outcome) => {
    stepResults.push(outcome && 'ok' in outcome ? stmtResult(outcome.ok) : null);
    stepErrors.push(outcome && 'error' in outcome ? outcome.error.toProto() : null);
  });
  return { step_results: stepResults, step_errors: stepErrors, replication_index: null };
}

/** sqld's proto_sequence_to_program(): all statements parsed first, then run until one fails. */
async function executeSequence(conn: SqlConnection, sql: string): Promise<void> {
  const queries = splitStatements(sql).map((s): Query => {
    const info = classify(s.tokens);
    if (info === undefined) throw sqlParseError(`unsupported statement: ${sql}`);
    checkSyntax(conn, s.text);
    const args: Args = { kind: 'positional', values: [] };
    return { sql: s.text, text: s.text, info, paramNames: parameterNames(s.tokens), args };
  });
  for (const q of queries) await executeQuery(conn, q, new ResponseBudget(Infinity));
}

function describeStmt(conn: SqlConnection, sql: string): DescribeResultOut {
  const tokens = splitStatements(sql)[0]?.tokens ?? [];
  const stmt = prepareOrFail(conn, sql);
  const info = classify(tokens);
  return {
    params: parameterNames(tokens).map((name) => ({ name })),
    cols: stmt.columns().map((c) => ({ name: c.name, decltype: c.type })),
    is_explain: info?.isExplain ?? false,
    is_readonly: info?.readonly ?? false,
  };
}

// ---------------------------------------------------------------------------------------------
// Streams and batons (libsql-server/src/hrana/http/stream.rs)
// ---------------------------------------------------------------------------------------------

interface HranaStream {
  id: bigint;
  /** The sequence number the next baton must carry. */
  seq: bigint;
  /** null once the stream received a `close` request. */
  conn: SqlConnection | null;
  sqls: Map<number, string>;
}

type StreamHandle =
  | { state: 'available'; stream: HranaStream; expiry: NodeJS.Timeout }
  | { state: 'acquired'; stream: HranaStream }
  | { state: 'expired'; cleanup: NodeJS.Timeout };

const U64_MASK = 2n ** 64n - 1n;

class StreamRegistry {
  private readonly key = randomBytes(32);
  private readonly handles = new Map<bigint, StreamHandle>();

  constructor(
    private readonly openConnection: () => SqlConnection,
    private readonly idleMs: number,
  ) {}

  /** A new stream when there is no baton, else the baton's stream (which must be idle). */
  acquire(baton: string | undefined): HranaStream {
    if (baton === undefined) return this.create();
    const [id, seq] = this.decodeBaton(baton);
    const handle = this.handles.get(id);
    if (handle === undefined) throw new ProtocolError('Received an invalid baton');
    if (handle.state === 'expired') throw new StreamExpiredError();
    if (handle.state === 'acquired' || handle.stream.seq !== seq) {
      throw new ProtocolError('Received a baton that has already been used');
    }
    clearTimeout(handle.expiry);
    const stream = handle.stream;
    stream.seq = (stream.seq + 1n) & U64_MASK; // the next request must present a new baton
    this.handles.set(id, { state: 'acquired', stream });
    return stream;
  }

  /** Makes the stream available again and returns its next baton, or null if it was closed. */
  release(stream: HranaStream): string | null {
    if (stream.conn === null) {
      this.handles.delete(stream.id);
      return null;
    }
    const expiry = setTimeout(() => this.expire(stream), this.idleMs).unref();
    this.handles.set(stream.id, { state: 'available', stream, expiry });
    return this.encodeBaton(stream.id, stream.seq);
  }

  /** Drops a stream without releasing it, as sqld does when a request fails with an error. */
  discard(stream: HranaStream): void {
    stream.conn?.close();
    stream.conn = null;
    this.handles.delete(stream.id);
  }

  closeAll(): void {
    for (const handle of this.handles.values()) {
      if (handle.state === 'expired') {
        clearTimeout(handle.cleanup);
      } else {
        if (handle.state === 'available') clearTimeout(handle.expiry);
        handle.stream.conn?.close();
        handle.stream.conn = null;
      }
    }
    this.handles.clear();
  }

  private create(): HranaStream {
    let id: bigint;
    do id = randomBytes(8).readBigUInt64BE();
    while (this.handles.has(id));
    const stream: HranaStream = {
      id,
      seq: randomBytes(8).readBigUInt64BE(),
      conn: this.openConnection(),
      sqls: new Map(),
    };
    this.handles.set(id, { state: 'acquired', stream });
    return stream;
  }

  /** Closing the connection rolls back whatever transaction the stream had open. */
  private expire(stream: HranaStream): void {
    if (this.handles.get(stream.id)?.state !== 'available') return;
    stream.conn?.close();
    stream.conn = null;
    const cleanup = setTimeout(() => this.handles.delete(stream.id), EXPIRED_CLEANUP_MS).unref();
    this.handles.set(stream.id, { state: 'expired', cleanup });
  }

  /** stream id (8 bytes BE) + seq (8 bytes BE) + HMAC-SHA256, base64 without padding. */
  private encodeBaton(id: bigint, seq: bigint): string {
    const payload = Buffer.alloc(16);
    payload.writeBigUInt64BE(id, 0);
    payload.writeBigUInt64BE(seq, 8);
    const mac = createHmac('sha256', this.key).update(payload).digest();
    return Buffer.concat([payload, mac]).toString('base64').replace(/=+$/, '');
  }

  private decodeBaton(baton: string): [bigint, bigint] {
    const data = BASE64_RE.test(baton) ? Buffer.from(baton, 'base64') : Buffer.alloc(0);
    if (data.length !== 48) throw new ProtocolError('Received an invalid baton');
    const payload = data.subarray(0, 16);
    const mac = createHmac('sha256', this.key).update(payload).digest();
    if (!timingSafeEqual(mac, data.subarray(16))) throw new ProtocolError('Received an invalid baton');
    return [payload.readBigUInt64BE(0), payload.readBigUInt64BE(8)];
  }
}

// ---------------------------------------------------------------------------------------------
// Pipeline and cursor endpoints
// ---------------------------------------------------------------------------------------------

interface ServerContext {
  config: ResolvedOptions;
  /** The routes of the enabled encodings (routesFor). */
  routes: Map<string, Route>;
  stats: HranaServerStats;
  streams: StreamRegistry;
}

interface Reply {
  status: number;
  contentType?: string;
  body: string | Uint8Array;
}

/** The body as a Buffer: sendReply then need not measure (and the socket not re-encode) a multi-MB string twice. */
const jsonReply = (status: number, body: unknown): Reply => ({ status, contentType: 'application/json', body: Buffer.from(toJson(body)) });
const textReply = (status: number, body: string): Reply => ({ status, contentType: 'text/plain', body });

/** POST /v2/pipeline, /v3/pipeline and /v3-protobuf/pipeline (hrana/http/mod.rs handle_pipeline). */
async function handlePipeline(ctx: ServerContext, body: unknown, version: number, encoding: Encoding): Promise<Reply> {
  const req = asObject(body, 'PipelineReqBody');
  const requests = asArray(req.requests, 'requests').map((r) => asObject(r, 'StreamRequest'));
  // serde rejects an unknown request type while decoding; Protobuf decodes an empty oneof as
  // StreamRequest::None, which fails only when its turn comes (streamResponse).
  if (encoding === 'json') requests.forEach(checkRequestType);
  const stream = ctx.streams.acquire(optString(req.baton, 'baton'));
  try {
    const results: StreamResultOut[] = [];
    for (const request of requests) results.push(await handleStreamRequest(ctx, stream, request, version));
    const resp = { baton: ctx.streams.release(stream), base_url: null, results };
    // mod.rs encode_response(): application/json or application/x-protobuf
    if (encoding === 'json') return jsonReply(200, resp);
    return { status: 200, contentType: 'application/x-protobuf', body: encodePipelineResp(resp) };
  } catch (err) {
    ctx.streams.discard(stream);
    throw err;
  }
}

const REQUEST_TYPES = new Set(['close', 'execute', 'batch', 'sequence', 'describe', 'store_sql', 'close_sql', 'get_autocommit']);

/** sqld deserialises the whole body before touching the stream, so unknown types fail first. */
function checkRequestType(request: Record<string, unknown>): void {
  if (typeof request.type !== 'string' || !REQUEST_TYPES.has(request.type)) {
    throw jsonDecodeError(`unknown variant ${JSON.stringify(request.type)} of StreamRequest`);
  }
}

async function handleStreamRequest(ctx: ServerContext, stream: HranaStream, request: Record<string, unknown>, version: number): Promise<StreamResultOut> {
  try {
    return { type: 'ok', response: await streamResponse(ctx, stream, request, version) };
  } catch (err) {
    if (err instanceof ResultError) return { type: 'error', error: err.toProto() };
    throw err;
  }
}

function requireConn(stream: HranaStream): SqlConnection {
  if (stream.conn === null) throw new ProtocolError('Stream for this baton was closed');
  return stream.conn;
}

async function streamResponse(ctx: ServerContext, stream: HranaStream, request: Record<string, unknown>, version: number): Promise<StreamResponseOut> {
  const budget = () => new ResponseBudget(ctx.config.maxResponseBytes);
  switch (request.type) {
    case PROTOBUF_NONE:
      throw new ProtocolError('StreamRequest type not recognized'); // request.rs: StreamRequest::None
    case 'close':
      stream.conn?.close();
      stream.conn = null;
      return { type: 'close' };
    case 'execute': {
      const conn = requireConn(stream);
      const query = buildQuery(conn, decodeStmt(request.stmt), stream.sqls);
      return { type: 'execute', result: stmtResult(await executeQuery(conn, query, budget())) };
    }
    case 'batch': {
      const conn = requireConn(stream);
      const steps = buildBatch(conn, request.batch, stream.sqls, version);
      return { type: 'batch', result: await executeBatch(conn, steps, budget()) };
    }
    case 'sequence': {
      const conn = requireConn(stream);
      await executeSequence(conn, resolveSql(...sqlRef(request), stream.sqls));
      return { type: 'sequence' };
    }
    case 'describe': {
      const conn = requireConn(stream);
      return { type: 'describe', result: describeStmt(conn, resolveSql(...sqlRef(request), stream.sqls)) };
    }
    case 'store_sql':
      storeSql(stream.sqls, request);
      return { type: 'store_sql' };
    case 'close_sql':
      stream.sqls.delete(requireNumber(request.sql_id, 'sql_id'));
      return { type: 'close_sql' };
    default: {
      if (version < 3) {
        throw new ProtocolError('The `get_autocommit` request is only supported in protocol version hrana3 and higher');
      }
      return { type: 'get_autocommit', is_autocommit: requireConn(stream).isAutocommit };
    }
  }
}

function sqlRef(request: Record<string, unknown>): [string | undefined, number | undefined] {
  const sqlId = request.sql_id == null ? undefined : requireNumber(request.sql_id, 'sql_id');
  return [optString(request.sql, 'sql'), sqlId];
}

function storeSql(sqls: Map<number, string>, request: Record<string, unknown>): void {
  const sqlId = requireNumber(request.sql_id, 'sql_id');
  const sql = request.sql;
  if (typeof sql !== 'string') throw jsonDecodeError('missing field `sql`');
  if (sqls.has(sqlId)) throw new ProtocolError(`SQL text ${sqlId} already exists`);
  if (sqls.size >= MAX_SQL_COUNT) {
    throw new ResultError(`The server already stores ${sqls.size} SQL texts, it cannot store more`, 'SQL_STORE_TOO_MANY');
  }
  const size = Buffer.byteLength(sql);
  if (size > MAX_STORED_SQL_BYTES) {
    throw new ResultError(`The statement is too large to be stored: ${formatByteSize(size)}/${formatByteSize(MAX_STORED_SQL_BYTES)}`, 'SQL_STORE_TOO_LARGE');
  }
  sqls.set(sqlId, sql);
}

/** bytesize's Display (decimal units), as used in sqld's SQL_STORE_TOO_LARGE message. */
function formatByteSize(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const exp = Math.min(Math.floor(Math.log(bytes) / Math.log(1000)), 6);
  return `${(bytes / 1000 ** exp).toFixed(1)} ${'KMGTPE'[exp - 1]}B`;
}

/**
 * POST /v3/cursor and /v3-protobuf/cursor: first `{baton, base_url}`, then step_begin/row/step_end/
 * step_error entries and a final replication_index entry; NDJSON as text/plain, or length-delimited
 * Protobuf messages as application/octet-stream (mod.rs handle_cursor). Unlike sqld, the whole
 * batch runs before the response is written (and before the stream is released).
 */
async function handleCursor(ctx: ServerContext, body: unknown, version: number, encoding: Encoding): Promise<Reply> {
  const req = asObject(body, 'CursorReqBody');
  const stream = ctx.streams.acquire(optString(req.baton, 'baton'));
  let entries: CursorEntryOut[];
  try {
    const conn = requireConn(stream);
    const steps = buildBatchOrFail(conn, req.batch, stream.sqls, version);
    entries = await cursorEntries(conn, steps);
  } catch (err) {
    ctx.streams.discard(stream);
    throw err;
  }
  const head = { baton: ctx.streams.release(stream), base_url: null };
  if (encoding === 'protobuf') return { status: 200, contentType: 'application/octet-stream', body: encodeCursorBody(head, entries) };
  return { status: 200, contentType: 'text/plain', body: [head, ...entries].map((e) => `${toJson(e)}\n`).join('') };
}

/** In the cursor endpoint sqld does not catch statement errors from parsing: they become 500s. */
function buildBatchOrFail(conn: SqlConnection, raw: unknown, sqls: Map<number, string>, version: number): BatchStep[] {
  try {
    return buildBatch(conn, raw, sqls, version);
  } catch (err) {
    throw err instanceof ResultError ? new Error(err.message) : err;
  }
}

async function cursorEntries(conn: SqlConnection, steps: BatchStep[]): Promise<CursorEntryOut[]> {
  const entries: CursorEntryOut[] = [];
  const emit = (step: number, outcome: StepOutcome) => {
    if (outcome === undefined) return;
    if ('ok' in outcome) {
      const o = outcome.ok;
      entries.push({ type: 'step_begin', step, cols: o.cols });
      for (const row of o.rows) entries.push({ type: 'row', row });
      entries.push({ type: 'step_end', affected_row_count: o.affectedRowCount, last_insert_rowid: o.lastInsertRowid });
    } else {
      if (outcome.error.cols) entries.push({ type: 'step_begin', step, cols: outcome.error.cols });
      entries.push({ type: 'step_error', step, error: outcome.error.toProto() });
    }
  };
  try {
    await runBatch(conn, steps, new ResponseBudget(Infinity), emit); // sqld's cursor has no size limit
  } catch (err) {
    if (!(err instanceof ResultError)) throw err;
    entries.push({ type: 'error', error: err.toProto() });
  }
  entries.push({ type: 'replication_index', replication_index: null });
  return entries;
}

// ---------------------------------------------------------------------------------------------
// JSON request decoding helpers (serde-like strictness where the client could notice)
// ---------------------------------------------------------------------------------------------

function asObject(v: unknown, what: string): Record<string, unknown> {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw jsonDecodeError(`invalid type: expected struct ${what}`);
  return v as Record<string, unknown>;
}

function asArray(v: unknown, field: string): unknown[] {
  if (!Array.isArray(v)) throw jsonDecodeError(`invalid type for \`${field}\`: expected a sequence`);
  return v;
}

function optString(v: unknown, field: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v !== 'string') throw jsonDecodeError(`invalid type for \`${field}\`: expected a string`);
  return v;
}

function requireNumber(v: unknown, field: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw jsonDecodeError(`invalid type for \`${field}\`: expected i32`);
  return v;
}

function decodeStmt(raw: unknown): ProtoStmt {
  const stmt = asObject(raw, 'Stmt');
  return {
    sql: optString(stmt.sql, 'sql'),
    sql_id: stmt.sql_id == null ? undefined : requireNumber(stmt.sql_id, 'sql_id'),
    args: stmt.args == null ? undefined : asArray(stmt.args, 'args'),
    named_args: stmt.named_args == null ? undefined : asArray(stmt.named_args, 'named_args'),
  };
}

// ---------------------------------------------------------------------------------------------
// HTTP layer: routing, auth, fault injection
// ---------------------------------------------------------------------------------------------

/** GET routes without an encoding are served whatever the encodings option says. */
type GetRoute = { method: 'GET'; encoding?: Encoding; reply: () => Reply };
type PostRoute = { method: 'POST'; endpoint: 'pipeline' | 'cursor'; version: number; encoding: Encoding };
type Route = GetRoute | PostRoute;

/** libsql-server/src/http/user/mod.rs; `/v3-protobuf` answers with the same handle_index as `/v2`. */
const ROUTES: Record<string, Route> = {
  '/health': { method: 'GET', reply: () => ({ status: 200, body: '' }) },
  '/version': { method: 'GET', reply: () => ({ status: 200, body: VERSION_TEXT }) },
  '/v2': { method: 'GET', encoding: 'json', reply: () => textReply(200, INDEX_TEXT) },
  '/v3': { method: 'GET', encoding: 'json', reply: () => textReply(200, INDEX_TEXT) },
  '/v3-protobuf': { method: 'GET', encoding: 'protobuf', reply: () => textReply(200, INDEX_TEXT) },
  '/v2/pipeline': { method: 'POST', endpoint: 'pipeline', version: 2, encoding: 'json' },
  '/v3/pipeline': { method: 'POST', endpoint: 'pipeline', version: 3, encoding: 'json' },
  '/v3/cursor': { method: 'POST', endpoint: 'cursor', version: 3, encoding: 'json' },
  '/v3-protobuf/pipeline': { method: 'POST', endpoint: 'pipeline', version: 3, encoding: 'protobuf' },
  '/v3-protobuf/cursor': { method: 'POST', endpoint: 'cursor', version: 3, encoding: 'protobuf' },
};

/** The routes of the enabled encodings; the others are unknown paths (404), as on a server without them. */
function routesFor(encodings: readonly Encoding[]): Map<string, Route> {
  const enabled = (r: Route) => r.encoding === undefined || encodings.includes(r.encoding);
  return new Map(Object.entries(ROUTES).filter(([, r]) => enabled(r)));
}

async function handleHttp(ctx: ServerContext, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readBody(req);
  if (ctx.config.latencyMs > 0) await sleep(ctx.config.latencyMs);
  const route = ctx.routes.get(new URL(req.url ?? '/', 'http://localhost').pathname);
  if (route === undefined) return sendReply(res, { status: 404, body: '' });
  if (req.method !== route.method) return sendReply(res, { status: 405, body: '' });
  if (route.method === 'GET') return sendReply(res, route.reply());

  const fault = nextFault(ctx);
  if (fault === 'before') return injectFailure(ctx, res);
  const reply = await handleHrana(ctx, route, req.headers.authorization, body);
  if (fault === 'after') return injectFailure(ctx, res);
  sendReply(res, reply);
}

function nextFault(ctx: ServerContext): 'before' | 'after' | undefined {
  ctx.stats.requests++;
  const { failEvery, failAfterExecute } = ctx.config;
  if (failEvery <= 0 || ctx.stats.requests % failEvery !== 0) return undefined;
  return failAfterExecute ? 'after' : 'before';
}

function injectFailure(ctx: ServerContext, res: http.ServerResponse): void {
  ctx.stats.failed++;
  if (ctx.config.failMode === 'reset') res.socket?.destroy();
  else sendReply(res, textReply(503, 'Service Unavailable (injected failure)'));
}

async function handleHrana(ctx: ServerContext, route: PostRoute, authorization: string | undefined, body: Buffer): Promise<Reply> {
  try {
    checkAuth(ctx.config.token, authorization);
    const req = decodeRequest(route, body);
    if (route.endpoint === 'pipeline') return await handlePipeline(ctx, req, route.version, route.encoding);
    return await handleCursor(ctx, req, route.version, route.encoding);
  } catch (err) {
    return errorReply(err, route.encoding);
  }
}

/** mod.rs read_decode_request(): a body that does not decode is a ProtocolError (400 text/plain). */
function decodeRequest(route: PostRoute, body: Buffer): unknown {
  if (route.encoding === 'json') return parseJsonBody(body.toString('utf8'));
  try {
    return route.endpoint === 'pipeline' ? decodePipelineReq(body) : decodeCursorReq(body);
  } catch (err) {
    if (err instanceof ProtobufDecodeError) throw new ProtocolError(`Could not decode client message from Protobuf: ${err.message}`);
    throw err;
  }
}

/** sqld's JWT strategy checks, with a fixed token standing in for JWT validation. */
function checkAuth(token: string | undefined, header: string | undefined): void {
  if (token === undefined) return;
  if (header === undefined) throw new AuthError('Expected authorization header but none given');
  const space = header.indexOf(' ');
  if (space < 0) throw new AuthError("Auth string does not conform to '<scheme> <token>' form");
  if (header.slice(0, space).toLowerCase() !== 'bearer') {
    throw new AuthError('The authentication scheme in the `Authorization` HTTP header is not supported');
  }
  if (header.slice(space + 1) !== token) throw new AuthError('The JWT is invalid');
}

function parseJsonBody(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch (err) {
    throw jsonDecodeError((err as Error).message);
  }
}

/** Auth and internal errors are JSON whatever the encoding (they come from sqld's HTTP layer, not Hrana's). */
function errorReply(err: unknown, encoding: Encoding): Reply {
  if (err instanceof AuthError) return jsonReply(401, { error: `Unauthorized: \`${err.message}\`` });
  if (err instanceof ProtocolError) return textReply(400, err.message);
  if (err instanceof StreamExpiredError) {
    // mod.rs stream_error_response(): a proto Error through encode_response(), in the request's encoding
    const error = { message: err.message, code: err.code };
    if (encoding === 'json') return jsonReply(400, error);
    return { status: 400, contentType: 'application/x-protobuf', body: encodeError(error) };
  }
  return internalErrorReply(err);
}

function internalErrorReply(err: unknown): Reply {
  const message = err instanceof Error ? err.message : String(err);
  return jsonReply(500, { error: `Internal Error: \`${message}\`` });
}

function sendReply(res: http.ServerResponse, reply: Reply): void {
  if (res.headersSent || res.destroyed) return;
  const headers: http.OutgoingHttpHeaders = { 'content-length': Buffer.byteLength(reply.body) };
  if (reply.contentType) headers['content-type'] = reply.contentType;
  res.writeHead(reply.status, headers);
  res.end(reply.body);
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function listen(server: http.Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

async function closeServer(server: http.Server, streams: StreamRegistry): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
  streams.closeAll();
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// CLI
// ---------------------------------------------------------------------------------------------

const CLI_USAGE =
  'usage: tsx test/support/hrana-server.ts --db FILE [--port N] [--token T] [--latency-ms N] ' +
  '[--fail-every N] [--fail-mode 503|reset] [--fail-after-execute] [--stream-idle-ms N] [--max-response-bytes N] [--json-only]';

function parseCliArgs(argv: string[]): HranaServerOptions {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--fail-after-execute' || arg === '--json-only') flags.add(arg);
    else if (arg.startsWith('--') && i + 1 < argv.length) values.set(arg, argv[++i]!);
    else throw new Error(`unexpected argument ${arg}\n${CLI_USAGE}`);
  }
  const db = values.get('--db');
  if (db === undefined) throw new Error(`--db is required\n${CLI_USAGE}`);
  const num = (flag: string) => (values.has(flag) ? Number(values.get(flag)) : undefined);
  const failMode = values.get('--fail-mode');
  if (failMode !== undefined && failMode !== '503' && failMode !== 'reset') throw new Error(CLI_USAGE);
  return {
    db,
    port: num('--port'),
    token: values.get('--token'),
    latencyMs: num('--latency-ms'),
    failEvery: num('--fail-every'),
    failMode,
    failAfterExecute: flags.has('--fail-after-execute'),
    streamIdleMs: num('--stream-idle-ms'),
    maxResponseBytes: num('--max-response-bytes'),
    encodings: flags.has('--json-only') ? ['json'] : undefined,
  };
}

async function main(): Promise<void> {
  const server = await startHranaServer(parseCliArgs(process.argv.slice(2)));
  console.log(`hrana-server listening on ${server.url}`);
  const shutdown = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
