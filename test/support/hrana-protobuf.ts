/**
 * The Protobuf encoding of Hrana 3 over HTTP for the sqld stand-in (test/support/hrana-server.ts):
 * converts request bodies into the same JSON-shaped objects the JSON path parses, and the stand-in's
 * response shapes into Protobuf bytes, so request handling stays one code path for both encodings.
 *
 * The schema is test/support/hrana.proto (transcribed from sqld); the encoding rules follow
 * libsql-hrana/src/protobuf.rs and proto.rs (prost). Deliberately independent of
 * @libsql/hrana-client, whose own Protobuf code is what the stand-in exists to test.
 */
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

// ---------------------------------------------------------------------------------------------
// Shapes shared by both encodings
// ---------------------------------------------------------------------------------------------

/** A SQLite value as the stand-in holds it: bigint = INTEGER, number = REAL, Buffer = BLOB. */
export type SqlValue = null | bigint | number | string | Buffer;

/**
 * A Protobuf `Value` argument, already decoded to its SQL value (exact: no base64, no JSON float
 * parsing). `undefined` is sqld's `Value::None`: a Value message with no field set.
 */
export class DecodedValue {
  constructor(readonly value: SqlValue | undefined) {}
}

/**
 * Stands for sqld's `None` variants (StreamRequest, BatchCond) that only Protobuf can produce: an
 * empty oneof. sqld rejects them as ProtocolErrors when it handles them, not while decoding. A symbol,
 * so no JSON body can ever spell it.
 */
export const PROTOBUF_NONE: unique symbol = Symbol('protobuf oneof not set');

// The response shapes below are proto.rs's structs with their JSON (snake_case) field names: the JSON
// writer in hrana-server.ts and the Protobuf writer here both start from them.

/** proto::Error (a result error, or the body of a StreamError). */
export interface ErrorOut {
  message: string;
  code: string;
}

export interface ColOut {
  name: string;
  decltype: string | null;
}

/** proto::StmtResult; `rows` hold raw values, which each writer encodes its own way. */
export interface StmtResultOut {
  cols: ColOut[];
  rows: SqlValue[][];
  affected_row_count: number;
  last_insert_rowid: bigint | null;
  replication_index: null;
  rows_read: number;
  rows_written: number;
  query_duration_ms: number;
}

export interface BatchResultOut {
  step_results: (StmtResultOut | null)[];
  step_errors: (ErrorOut | null)[];
  replication_index: null;
}

export interface DescribeResultOut {
  params: { name: string | null }[];
  cols: ColOut[];
  is_explain: boolean;
  is_readonly: boolean;
}

export type StreamResponseOut =
  | { type: 'close' | 'sequence' | 'store_sql' | 'close_sql' }
  | { type: 'execute'; result: StmtResultOut }
  | { type: 'batch'; result: BatchResultOut }
  | { type: 'describe'; result: DescribeResultOut }
  | { type: 'get_autocommit'; is_autocommit: boolean };

export type StreamResultOut = { type: 'ok'; response: StreamResponseOut } | { type: 'error'; error: ErrorOut };

export interface PipelineRespOut {
  baton: string | null;
  base_url: string | null;
  results: StreamResultOut[];
}

export interface CursorRespOut {
  baton: string | null;
  base_url: string | null;
}

export type CursorEntryOut =
  | { type: 'step_begin'; step: number; cols: ColOut[] }
  | { type: 'row'; row: SqlValue[] }
  | { type: 'step_end'; affected_row_count: number; last_insert_rowid: bigint | null }
  | { type: 'step_error'; step: number; error: ErrorOut }
  | { type: 'error'; error: ErrorOut }
  | { type: 'replication_index'; replication_index: null };

// ---------------------------------------------------------------------------------------------
// Schema
// ---------------------------------------------------------------------------------------------

const PROTO_FILE = fileURLToPath(new URL('./hrana.proto', import.meta.url));

interface HranaTypes {
  PipelineReqBody: protobuf.Type;
  PipelineRespBody: protobuf.Type;
  CursorReqBody: protobuf.Type;
  CursorRespBody: protobuf.Type;
  CursorEntry: protobuf.Type;
  Error: protobuf.Type;
}

let hranaTypes: HranaTypes | undefined;

/** Loads hrana.proto once (the stand-in calls this at startup so a schema error shows at once). */
export function loadHranaProtobuf(): HranaTypes {
  if (hranaTypes) return hranaTypes;
  // keepCase: the shapes use the schema's snake_case names, as the JSON encoding does.
  const root = new protobuf.Root().loadSync(PROTO_FILE, { keepCase: true });
  root.resolveAll();
  const type = (name: string) => root.lookupType(`hrana.${name}`);
  hranaTypes = {
    PipelineReqBody: type('PipelineReqBody'),
    PipelineRespBody: type('PipelineRespBody'),
    CursorReqBody: type('CursorReqBody'),
    CursorRespBody: type('CursorRespBody'),
    CursorEntry: type('CursorEntry'),
    Error: type('Error'),
  };
  return hranaTypes;
}

// ---------------------------------------------------------------------------------------------
// Requests: Protobuf bytes -> JSON-shaped objects
// ---------------------------------------------------------------------------------------------

/** A request body that is not valid Protobuf for its message; the text follows prost's DecodeError. */
export class ProtobufDecodeError extends Error {}

/** A decoded message: protobufjs sets the fields that were present (and a oneof's name getter). */
type Msg = Record<string, unknown>;

/** Decodes a `POST /v3-protobuf/pipeline` body into the JSON PipelineReqBody shape. */
export function decodePipelineReq(body: Uint8Array): Record<string, unknown> {
  const msg = decodeMessage(loadHranaProtobuf().PipelineReqBody, body);
  return { baton: optional(msg.baton), requests: list(msg.requests).map(streamRequest) };
}

/** Decodes a `POST /v3-protobuf/cursor` body into the JSON CursorReqBody shape. */
export function decodeCursorReq(body: Uint8Array): Record<string, unknown> {
  const msg = decodeMessage(loadHranaProtobuf().CursorReqBody, body);
  return { baton: optional(msg.baton), batch: batch(msg.batch) };
}

function decodeMessage(type: protobuf.Type, body: Uint8Array): Msg {
  try {
    return type.decode(body) as unknown as Msg;
  } catch (err) {
    throw new ProtobufDecodeError(`failed to decode Protobuf message: ${decodeErrorDescription(err)}`);
  }
}

/** prost's DecodeError descriptions for what protobufjs reports in its own words. */
function decodeErrorDescription(err: unknown): string {
  if ((err as { code?: unknown }).code === 'ERR_ENCODING_INVALID_ENCODED_DATA') {
    return 'invalid string value: data is not UTF-8 encoded'; // proto3 strings are checked, as prost does
  }
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('index out of range')) return 'buffer underflow';
  if (message.startsWith('invalid varint') || message.startsWith('invalid length')) return 'invalid varint';
  if (message === 'max depth exceeded') return 'recursion limit reached';
  const wireType = /^invalid wire type (\d+)/.exec(message);
  if (wireType) return `invalid wire type value: ${wireType[1]}`;
  if (message.startsWith('illegal tag: field number 0')) return 'invalid tag value: 0';
  return message;
}

/** Absent optional fields come back as the prototype's null; present ones as own properties. */
function optional(v: unknown): unknown {
  return v === null || v === undefined ? undefined : v;
}

function list(v: unknown): Msg[] {
  return Array.isArray(v) ? (v as Msg[]) : [];
}

/** Missing singular message fields decode as the message's default, like prost's `required` ones. */
function sub(v: unknown): Msg {
  return v !== null && typeof v === 'object' ? (v as Msg) : {};
}

/** The field set in a oneof; protobufjs exposes it through a getter named after the oneof. */
function oneofCase(msg: Msg, oneof: string): string | undefined {
  const name = msg[oneof];
  return typeof name === 'string' ? name : undefined;
}

function streamRequest(msg: Msg): Record<string, unknown> {
  const kind = oneofCase(msg, 'request');
  if (kind === undefined) return { type: PROTOBUF_NONE };
  const req = sub(msg[kind]);
  switch (kind) {
    case 'execute':
      return { type: kind, stmt: stmt(sub(req.stmt)) };
    case 'batch':
      return { type: kind, batch: batch(req.batch) };
    case 'sequence':
    case 'describe':
      return { type: kind, sql: optional(req.sql), sql_id: optional(req.sql_id) };
    case 'store_sql':
      return { type: kind, sql_id: req.sql_id, sql: req.sql };
    case 'close_sql':
      return { type: kind, sql_id: req.sql_id };
    default: // close, get_autocommit: empty messages
      return { type: kind };
  }
}

function stmt(msg: Msg): Record<string, unknown> {
  return {
    sql: optional(msg.sql),
    sql_id: optional(msg.sql_id),
    args: list(msg.args).map(value),
    named_args: list(msg.named_args).map((arg) => ({ name: arg.name, value: value(sub(arg.value)) })),
    want_rows: optional(msg.want_rows),
  };
}

function batch(v: unknown): Record<string, unknown> {
  const steps = list(sub(v).steps).map((step) => ({
    condition: step.condition == null ? undefined : batchCond(sub(step.condition)),
    stmt: stmt(sub(step.stmt)),
  }));
  return { steps };
}

function batchCond(msg: Msg): Record<string, unknown> {
  switch (oneofCase(msg, 'cond')) {
    case 'step_ok':
      return { type: 'ok', step: msg.step_ok };
    case 'step_error':
      return { type: 'error', step: msg.step_error };
    case 'not':
      return { type: 'not', cond: batchCond(sub(msg.not)) };
    case 'and':
      return { type: 'and', conds: list(sub(msg.and).conds).map(batchCond) };
    case 'or':
      return { type: 'or', conds: list(sub(msg.or).conds).map(batchCond) };
    case 'is_autocommit':
      return { type: 'is_autocommit' };
    default:
      return { type: PROTOBUF_NONE };
  }
}

function value(msg: Msg): DecodedValue {
  switch (oneofCase(msg, 'value')) {
    case 'null':
      return new DecodedValue(null);
    case 'integer':
      return new DecodedValue(int64(msg.integer));
    case 'float':
      return new DecodedValue(msg.float as number); // exact: a double on the wire
    case 'text':
      return new DecodedValue(msg.text as string);
    case 'blob':
      return new DecodedValue(msg.blob as Buffer); // a view into the request body, not a copy
    default:
      return new DecodedValue(undefined);
  }
}

/** protobufjs gives 64-bit integers as Long objects (or numbers when they fit, without long.js). */
function int64(v: unknown): bigint {
  if (typeof v === 'number') return BigInt(v);
  const { low, high } = v as { low: number; high: number };
  return BigInt.asIntN(64, (BigInt(high) << 32n) | BigInt(low >>> 0));
}

// ---------------------------------------------------------------------------------------------
// Responses: shapes -> Protobuf bytes
// ---------------------------------------------------------------------------------------------

/** The body of a pipeline response (`application/x-protobuf`). */
export function encodePipelineResp(resp: PipelineRespOut): Uint8Array {
  const msg = {
    baton: resp.baton ?? undefined,
    base_url: resp.base_url ?? undefined,
    results: resp.results.map((r) => (r.type === 'ok' ? { ok: streamResponse(r.response) } : { error: r.error })),
  };
  return loadHranaProtobuf().PipelineRespBody.encode(msg).finish();
}

/** The whole body of a cursor response: length-delimited CursorRespBody, then each CursorEntry. */
export function encodeCursorBody(head: CursorRespOut, entries: CursorEntryOut[]): Uint8Array {
  const types = loadHranaProtobuf();
  const writer = protobuf.Writer.create(); // one buffer for the whole body
  types.CursorRespBody.encodeDelimited({ baton: head.baton ?? undefined, base_url: head.base_url ?? undefined }, writer);
  for (const entry of entries) types.CursorEntry.encodeDelimited(cursorEntry(entry), writer);
  return writer.finish();
}

/** An `Error` message, the body sqld sends with a StreamError (e.g. STREAM_EXPIRED). */
export function encodeError(error: ErrorOut): Uint8Array {
  return loadHranaProtobuf().Error.encode(error).finish();
}

function streamResponse(resp: StreamResponseOut): Msg {
  switch (resp.type) {
    case 'execute':
      return { execute: { result: stmtResult(resp.result) } };
    case 'batch':
      return { batch: { result: batchResult(resp.result) } };
    case 'describe':
      return { describe: { result: describeResult(resp.result) } };
    case 'get_autocommit':
      return { get_autocommit: { is_autocommit: resp.is_autocommit } };
    default: // close, sequence, store_sql, close_sql: empty messages
      return { [resp.type]: {} };
  }
}

/** proto3 scalars at their default are left out by prost and by protobufjs alike. */
function stmtResult(r: StmtResultOut): Msg {
  return {
    cols: r.cols.map(col),
    rows: r.rows.map((values) => ({ values: values.map(protoValue) })),
    affected_row_count: r.affected_row_count,
    last_insert_rowid: r.last_insert_rowid === null ? undefined : longBits(r.last_insert_rowid),
    rows_read: r.rows_read,
    rows_written: r.rows_written,
    query_duration_ms: r.query_duration_ms,
  };
}

/** protobuf.rs vec_as_map: one map entry per step that has a result (or an error), in step order. */
function batchResult(r: BatchResultOut): Msg {
  const present = <T>(items: (T | null)[], f: (item: T) => unknown) => {
    const map: Record<number, unknown> = {};
    items.forEach((item, i) => {
      if (item !== null) map[i] = f(item);
    });
    return map;
  };
  return { step_results: present(r.step_results, stmtResult), step_errors: present(r.step_errors, (e) => e) };
}

function describeResult(r: DescribeResultOut): Msg {
  return {
    params: r.params.map((p) => ({ name: p.name ?? undefined })),
    cols: r.cols.map(col),
    is_explain: r.is_explain,
    is_readonly: r.is_readonly,
  };
}

/** sqld always sets a column's name (`Some(name)`), even when it is empty. */
function col(c: ColOut): Msg {
  return { name: c.name, decltype: c.decltype ?? undefined };
}

function cursorEntry(entry: CursorEntryOut): Msg {
  switch (entry.type) {
    case 'step_begin':
      return { step_begin: { step: entry.step, cols: entry.cols.map(col) } };
    case 'row':
      return { row: { values: entry.row.map(protoValue) } };
    case 'step_end': {
      const rowid = entry.last_insert_rowid === null ? undefined : longBits(entry.last_insert_rowid);
      return { step_end: { affected_row_count: entry.affected_row_count, last_insert_rowid: rowid } };
    }
    case 'step_error':
      return { step_error: { step: entry.step, error: entry.error } };
    case 'error':
      return { error: entry.error };
    case 'replication_index':
      return {}; // protobuf.rs writes nothing for `ReplicationIndex { replication_index: None }`
  }
}

/** protobuf.rs `Value`: Null is an empty message, integers are sint64, BLOBs raw bytes. */
function protoValue(v: SqlValue): Msg {
  if (v === null) return { null: {} };
  if (typeof v === 'bigint') return { integer: longBits(v) };
  if (typeof v === 'number') return { float: v };
  if (typeof v === 'string') return { text: v };
  return { blob: v };
}

/** protobufjs takes 64-bit integers as {low, high} (what Long has), not as bigint. */
function longBits(v: bigint): { low: number; high: number } {
  return { low: Number(BigInt.asIntN(32, v)), high: Number(BigInt.asIntN(32, v >> 32n)) };
}
