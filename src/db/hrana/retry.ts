/**
 * The `fetch` handed to @libsql/client: every Hrana HTTP request goes through here and is retried, with exponential
 * backoff and jitter, when it failed in a way that may pass (HTTP 429/502/503/504, a reset or dropped connection, a
 * timeout), a bounded number of times and within a time budget.
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

/** `{"baton":"…"` at the start of the JSON body: the request continues an existing stream. */
function carriesBaton(body: Uint8Array | undefined): boolean {
  if (!body) return false;
  const head = Buffer.from(body.buffer, body.byteOffset, Math.min(body.byteLength, 16)).toString('latin1');
  return /^\{\s*"baton"\s*:\s*"/.test(head);
}

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
    const withBaton = carriesBaton(body);
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
              return new Response(JSON.stringify({ message, code: 'REPLAY_REJECTED' }), {
                status: 400,
                headers: { 'content-type': 'application/json' },
              });
            }
          }
          return new Response(buf, { status: res.status, statusText: res.statusText, headers: res.headers });
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
