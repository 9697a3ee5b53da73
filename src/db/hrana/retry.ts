/**
 * The `fetch` handed to the Hrana client (hrana/client.ts): every Hrana HTTP request goes through here and is
 * retried, with exponential backoff and jitter, when it failed in a way that may pass (HTTP 429/502/503/504, a reset
 * or dropped connection, a timeout), a bounded number of times and within a time budget.
 *
 * Why a retry is safe here, even inside a transaction: the client only learns the stream's next baton from a
 * response, so a retry re-sends the *same* request with the *same* baton. sqld (libsql-server/src/hrana/http/
 * stream.rs) bumps a stream's baton sequence when it accepts a request, so
 *   - if the failed attempt never ran (a 503 from a proxy, a connection refused or reset before the request was
 *     read), the retry runs it once, on the same stream, inside the same transaction/snapshot;
 *   - if it did run and only its response was lost, the retry is refused ("baton already used", or the stream is
 *     gone/expired): the request is never applied twice. That refusal is turned into a `REPLAY_REJECTED` error
 *     so callers can say what happened: the stream, and any transaction on it, is lost (sqld rolls it back).
 * Requests without a baton open a fresh stream: re-running them is harmless for the reads and the
 * `BEGIN`/`PRAGMA` openers this project sends that way.
 */
import { remoteTuning, type RemoteTuning } from './config.js';

export type FetchFn = (request: Request) => Promise<Response>;

/** The host could not be reached, or kept failing, after the allowed attempts. Never holds the URL's secrets. */
export class RemoteUnavailableError extends Error {
  constructor(
    readonly host: string,
    readonly reason: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    readonly permanent: boolean,
  ) {
    super(
      permanent
        ? `cannot reach ${host}: ${reason}`
        : `cannot reach ${host}: ${reason} (${attempts} attempt${attempts === 1 ? '' : 's'} in ${(elapsedMs / 1000).toFixed(1)} s)`,
    );
    this.name = 'RemoteUnavailableError';
  }
}

export interface RetryStats {
  requests: number;
  retries: number;
  replayRejected: number;
}

const TRANSIENT_STATUS = new Set([429, 502, 503, 504]);
/** Failures to open a connection: retried a few times only, so a dead host fails fast. */
const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'EADDRNOTAVAIL', 'UND_ERR_CONNECT_TIMEOUT']);
/** Failures no retry can fix. */
const PERMANENT_CODES = new Set([
  'ENOTFOUND',
  'BAD_PORT',
  'ERR_INVALID_URL',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'DNS lookup failed',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed by the server',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  TIMEOUT: 'request timed out',
  BAD_PORT: 'the port is one that fetch refuses to connect to',
};

/** The most specific error code in an error's cause chain (undici wraps socket errors in "fetch failed"). */
export function networkCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; cur && depth < 6; depth++) {
    const err = cur as { code?: unknown; name?: unknown; cause?: unknown; errors?: unknown[] };
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return 'TIMEOUT';
    if (typeof err.code === 'string' && err.code !== 'ERR_ASSERTION') return err.code;
    // undici refuses the Fetch standard's blocked ports (1, 9, 25, …) before connecting.
    if ((err as Error).message === 'bad port') return 'BAD_PORT';
    if (Array.isArray(err.errors) && err.errors.length > 0) cur = err.errors[0];
    else cur = err.cause;
  }
  return undefined;
}

const describe = (code: string | undefined, e: unknown) =>
  code ? `${REASONS[code] ?? 'network error'} (${code})` : `network error (${(e as Error)?.message ?? String(e)})`;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A timeout that the caller's signal can also end (AbortSignal.any is Node 20.3+). */
const withCaller = (timeout: AbortSignal, caller?: AbortSignal) => (caller ? AbortSignal.any([timeout, caller]) : timeout);

/**
 * Whether a request continues an existing stream. JSON: the body starts `{"baton":"`. Protobuf: the body starts
 * with field 1 (`optional string baton = 1`, tag 0x0a) of PipelineReqBody or CursorReqBody; hrana-client writes it
 * first, and only when it has a baton.
 */
function carriesBaton(body: Uint8Array | undefined, contentType: string | null): boolean {
  if (!body || body.byteLength === 0) return false;
  if (contentType === PROTOBUF) return body[0] === 0x0a;
  const head = Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, 16)).toString('latin1');
  return /^\{\s*"baton"\s*:\s*"/.test(head);
}

const PROTOBUF = 'application/x-protobuf';

/**
 * sqld answers a stream error (STREAM_EXPIRED) in the request's encoding: in Protobuf, an `Error { string message
 * = 1; string code = 2; }` body (libsql-server/src/hrana/http/mod.rs `stream_error_response`). hrana-client 0.10
 * reads only JSON and text error bodies and would report a bare "HTTP status 400", losing the code. This reads the
 * two strings so the body can be handed on as the JSON sqld sends in that encoding. Null when it is not that.
 */
function protobufError(buf: Uint8Array): { message: string; code: string } | null {
  const out = { message: '', code: '' };
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (i >= buf.length) return -1;
      const b = buf[i++]!;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return -1;
  };
  while (i < buf.length) {
    const tag = varint();
    const len = (tag & 7) === 2 ? varint() : -1;
    if (len < 0 || i + len > buf.length) return null;
    const text = Buffer.from(buf.buffer, buf.byteOffset + i, len).toString('utf8');
    if (tag >>> 3 === 1) out.message = text;
    else if (tag >>> 3 === 2) out.code = text;
    i += len;
  }
  return out.code ? out : null;
}

/**
 * A response whose body was read whole inside the attempt (so that a connection lost mid-body is retried), handed
 * on without copying it again: `new Response(buf)` copies the bytes into a stream, and the client's `arrayBuffer()`
 * concatenates them once more. For a backup's pages (megabytes each) those copies and their collection were a tenth
 * of a remote backup's client CPU.
 */
class ReadResponse extends Response {
  readonly #read: ArrayBuffer;
  constructor(read: ArrayBuffer, init: ResponseInit) {
    super(null, init);
    this.#read = read;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    return Promise.resolve(this.#read);
  }
  override text(): Promise<string> {
    return Promise.resolve(Buffer.from(this.#read).toString('utf8'));
  }
  override json(): Promise<unknown> {
    return this.text().then((t) => JSON.parse(t) as unknown);
  }
}

const jsonError = (status: number, body: { message: string; code: string }) =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

/** sqld's answers to a baton it will not run again (already used, unknown); an expired stream keeps its own code. */
const isReplayRefusal = (status: number, text: string) => status === 400 && /baton/i.test(text) && !/STREAM_EXPIRED/.test(text);

export function retryingFetch(host: string, opts: { tuning?: RemoteTuning; stats?: RetryStats; base?: typeof fetch; signal?: AbortSignal } = {}): FetchFn {
  const tuning = opts.tuning ?? remoteTuning;
  const stats = opts.stats;
  const base = opts.base ?? globalThis.fetch;
  // Until the host has answered once, an attempt gets only firstContactTimeoutMs: a server that accepts connections
  // but never answers must fail within ~30 s, naming the host; afterwards a slow statement gets the full timeout.
  let contacted = false;
  return async (request: Request): Promise<Response> => {
    const body = request.body ? new Uint8Array(await request.arrayBuffer()) : undefined;
    const withBaton = carriesBaton(body, request.headers.get('content-type'));
    const started = Date.now();
    if (stats) stats.requests++;
    for (let attempt = 1; ; attempt++) {
      let reason: string;
      let connectFailure = false;
      try {
        const res = await base(request.url, {
          method: request.method,
          headers: request.headers,
          body,
          signal: withCaller(AbortSignal.timeout(contacted ? tuning.requestTimeoutMs : tuning.firstContactTimeoutMs), opts.signal),
        });
        contacted = true;
        if (TRANSIENT_STATUS.has(res.status)) {
          await res.body?.cancel().catch(() => {});
          reason = `HTTP ${res.status}`;
        } else {
          // The whole body inside the attempt: a connection lost mid-response is retried like any other.
          const buf = await res.arrayBuffer();
          if (attempt > 1 && withBaton && res.status === 400) {
            const text = Buffer.from(buf).toString('utf8');
            if (isReplayRefusal(res.status, text)) {
              if (stats) stats.replayRejected++;
              const message = `a response from ${host} was lost and the server refused to run the request again (${text.replace(/\s+/g, ' ').trim().slice(0, 80)})`;
              return jsonError(400, { message, code: 'REPLAY_REJECTED' });
            }
          }
          if (res.status !== 200 && res.headers.get('content-type') === PROTOBUF) {
            const err = protobufError(new Uint8Array(buf));
            if (err) return jsonError(res.status, err);
          }
          const init = { status: res.status, statusText: res.statusText, headers: res.headers };
          // A cursor's body is read as a stream; nothing else is.
          return res.headers.get('content-type') === 'application/octet-stream' ? new Response(buf, init) : new ReadResponse(buf, init);
        }
      } catch (e) {
        // The caller's abort is not a network failure: nothing is retried.
        if (opts.signal?.aborted) throw e;
        const code = networkCode(e);
        if (code && PERMANENT_CODES.has(code)) {
          throw new RemoteUnavailableError(host, describe(code, e), attempt, Date.now() - started, true);
        }
        connectFailure = code !== undefined && CONNECT_CODES.has(code);
        reason = describe(code, e);
      }
      const elapsed = Date.now() - started;
      const limit = connectFailure ? tuning.maxConnectAttempts : tuning.maxAttempts;
      const delay = Math.min(tuning.maxBackoffMs, tuning.baseBackoffMs * 2 ** (attempt - 1)) * (0.5 + Math.random() / 2);
      if (attempt >= limit || elapsed + delay > tuning.retryBudgetMs) {
        throw new RemoteUnavailableError(host, reason, attempt, elapsed, false);
      }
      if (stats) stats.retries++;
      await sleep(delay);
    }
  };
}
