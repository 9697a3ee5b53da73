/**
 * media-check: every inventoried object is looked up with head() in the store of BLOB_READ_WRITE_TOKEN (by pathname
 * when the row has one, else by url), `concurrency` at a time, streaming the inventory. Outcomes per object:
 * present, missing (404), size mismatch (present, but the store's size differs from the inventory's), or invalid
 * (the API rejected the reference itself). Anything that is about the store or the token, not the object (403,
 * store gone, retries exhausted), rejects the whole check.
 */
import type { head as blobHead, HeadBlobResult } from '@vercel/blob';
import { headObject, ObjectError, type RetryPolicy } from '../blob/client.js';
import { blobRef, type Inventory, type MediaRow } from './model.js';
import { forEachBounded } from './pool.js';

export interface MissingObject {
  id: string | number | null;
  pathname: string | null;
  url: string | null;
}

export interface MismatchedObject {
  id: string | number | null;
  pathname: string | null;
  expected: number;
  actual: number;
}

export interface InvalidObject extends MissingObject {
  error: string;
}

export interface CheckResult {
  /** Objects looked up (rows with neither url nor pathname are not counted: see `skipped`). */
  checked: number;
  present: number;
  missing: MissingObject[];
  mismatched: MismatchedObject[];
  invalid: InvalidObject[];
  /** Inventory rows with neither a url nor a pathname. */
  skipped: number;
  /** Transient failures that were retried (and then succeeded, or the check would have failed). */
  retries: number;
  durationMs: number;
}

export interface CheckOptions {
  token: string;
  concurrency?: number;
  signal?: AbortSignal;
  policy?: RetryPolicy;
  /** Replaces @vercel/blob's head() (tests). */
  head?: typeof blobHead;
  onTotal?: (rows: number) => void;
  onProgress?: (done: number) => void;
  onMissing?: (o: MissingObject) => void;
  onMismatch?: (o: MismatchedObject) => void;
  onInvalid?: (o: InvalidObject) => void;
}

export const DEFAULT_CONCURRENCY = 16;

export async function checkMedia(inventory: Inventory, opts: CheckOptions): Promise<CheckResult> {
  const started = Date.now();
  const r: CheckResult = { checked: 0, present: 0, missing: [], mismatched: [], invalid: [], skipped: 0, retries: 0, durationMs: 0 };
  let done = 0;
  const onRetry = () => void r.retries++;
  const lookup = (ref: string): Promise<HeadBlobResult> => headObject(ref, opts.token, { signal: opts.signal, policy: opts.policy, onRetry, head: opts.head });

  const task = async (row: MediaRow) => {
    const ref = blobRef(row);
    if (!ref) {
      r.skipped++;
      return;
    }
    try {
      const h = await lookup(ref);
      r.checked++;
      r.present++;
      if (row.size !== null && h.size !== row.size) {
        const m = { id: row.id, pathname: row.pathname ?? h.pathname, expected: row.size, actual: h.size };
        r.mismatched.push(m);
        opts.onMismatch?.(m);
      }
    } catch (e) {
      if (!(e instanceof ObjectError)) throw e;
      r.checked++;
      const o = { id: row.id, pathname: row.pathname, url: row.url };
      if (e.kind === 'missing') {
        r.missing.push(o);
        opts.onMissing?.(o);
      } else {
        const inv = { ...o, error: e.message };
        r.invalid.push(inv);
        opts.onInvalid?.(inv);
      }
    } finally {
      opts.onProgress?.(++done);
    }
  };

  await forEachBounded(inventory.rows({ onTotal: opts.onTotal }), opts.concurrency ?? DEFAULT_CONCURRENCY, task, opts.signal);
  r.durationMs = Date.now() - started;
  return r;
}
