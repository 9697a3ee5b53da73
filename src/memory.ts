/**
 * Keeps a long streaming run's memory flat. A dump allocates its whole size in short-lived strings and buffers;
 * V8 collects them lazily and lets the heap and external memory grow far beyond what is live (measured: ~185 MB
 * peak RSS for a 1M-row backup without this, ~155 MB with it; docs/BENCHMARKS.md). A full collection of a heap
 * this small takes a few milliseconds, so one every `everyBytes` of work costs ~1 % of the run.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

/** V8's gc(): a full collection, or with `{ type: 'minor' }` only the young generation (a scavenge). */
type GcFn = (opts?: { type: 'minor' | 'major' }) => void;

let gcFn: GcFn | null | undefined;

function gc(): GcFn | null {
  if (gcFn !== undefined) return gcFn;
  try {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as GcFn;
  } catch {
    gcFn = null;
  }
  return gcFn;
}

/**
 * How often a restore into a remote database collects instead (its passes, its read-back). Its memory limit is not
 * a local restore's 160 MB, and over HTTP its own CPU is the budget. Measured through the stand-in sqld (client CPU
 * u+s, peak RSS): the 200k-row events restore at 50 ms latency took 3.20-3.24 s every 32 MiB and 2.56-2.82 s every
 * 128 MiB (149-155 MB both); the 1M-row one at 0 ms 12.2 s / 156 MB, 11.7 s / 159 MB, and never 10.2 s / 165 MB.
 */
export const REMOTE_COLLECT_BYTES = 128 * 1024 * 1024;

/** When a governor collects (createMemoryGovernor). */
export interface GovernorOptions {
  /** Bytes of work between collections. */
  everyBytes?: number;
  minIntervalMs?: number;
  /** Collect the young generation only… */
  young?: boolean;
  /** …except every `majorEvery`-th collection, a full one. */
  majorEvery?: number;
}

/**
 * How a restore's passes over the dump collect, for a target on `db` (none: a dry run). Over HTTP: a full
 * collection every REMOTE_COLLECT_BYTES. Locally both passes read into buffers they give back
 * (format/buffer-pool.ts), so what they leave behind is mostly short-lived, and a scavenge every 8 MiB frees it.
 * Every second collection is a full one. The loading pass keeps a batch of decoded rows alive across scavenges (wide
 * rows outlive them). The checking pass keeps nothing of its own, but the file's 1 MiB read buffers outlive
 * scavenges while their members inflate, and only a full collection frees them: with every fourth one, that pass's
 * resident memory rose ~25 MB between full collections, and the narrow shape's 3x restore peaked at 127-149 MB
 * (1x: 125-142 MB), against 128-132 MB (1x: 125-126 MB) with every second one, at the same CPU (docs/BENCHMARKS.md,
 * session 21). Measured alternating (session 15), against a full collection every 8 MiB:
 * - checking pass alone (a dry run): wide 0.83-0.85 s against 0.92-0.99 s, events 0.61-0.63 against 0.68-0.71 s,
 *   at 7-14 MB less;
 * - loading pass: events 4.60-4.86 s against 4.84-5.05 s at the same peak RSS; wide 2.72-2.93 against 2.81-3.10 s,
 *   at 141-155 MB against 136-145 MB; current unchanged. Every fourth one there took wide to 155-171 MB.
 */
export function passMemory(db: { kind: string } | undefined): GovernorOptions {
  if (db && db.kind !== 'file') return { everyBytes: REMOTE_COLLECT_BYTES };
  return { everyBytes: 8 * 1024 * 1024, young: true, majorEvery: 2 };
}

/**
 * How often a read-back of a local target collects (the verifying thread's re-checksum). Measured on the events
 * restore, alternating builds: every 4 MiB its forced collections cost 8.5-8.9 s of user CPU, every 8 MiB 7.9-8.3 s,
 * every 16 MiB 7.6-7.9 s. But at 16 MiB the current shape's 3x restore peaked at 142-160 MB, against 137-146 MB at
 * 4 MiB and 146-147 MB at 8 MiB, for a 160 MB limit.
 */
export const READBACK_COLLECT_BYTES = 8 * 1024 * 1024;

/**
 * Pieces of work larger than this are pages and members of large rows (db/pages.ts MAX_PAGE_BYTES): they count
 * towards LARGE_COLLECT. Ordinary pages and members are ~1 MiB. They count towards `everyBytes` by their bytes like
 * any other: counting them four times as well made no difference once LARGE_COLLECT existed (docs/BENCHMARKS.md,
 * session 25).
 */
const LARGE_PIECE = 2 * 1024 * 1024;

/**
 * The largest buffer a backup uses again rather than leaving it to the collector: a page of ordinary rows (~1 MiB,
 * a third more once its BLOBs are in base64) and the gzip member of one (backup/read-worker.ts, format/gzip.ts).
 * Larger ones hold rows of MiBs, and a few of those kept at once cost more than they save: at 2 MiB the bench's
 * `large` shape's backup peaked at 149–161 MB, against 144–149 MB before and 145–147 MB at 1.5 MiB (alternating,
 * docs/BENCHMARKS.md, session 24).
 */
export const REUSE_MAX = 1536 * 1024;

/**
 * What a backup page costs of the reader thread's credits (pages on their way to the main thread): one, or all of
 * them for a page over REUSE_MAX (rows of MiBs), which then travels alone. Each such page is held several times over
 * (SQLite's result, its base64, a block, a member), and four of them at once took the bench's `large` shape to its
 * limit: working process, alternating (docs/BENCHMARKS.md, session 30), 146–155 MB against 155–161 MB at 1×,
 * 156–163 against 165–171 MB at 3×, ~6 % slower on that shape (its backup is at ~0.46× its anchor); two at once
 * saved ~2 MB. Pages of ordinary rows (~1 MiB) cost one, as before. Both threads count by the bytes the reader sent.
 */
export const pageCredits = (bytes: number, credits: number): number => (bytes > REUSE_MAX ? credits : 1);

/**
 * Bytes of large pieces after which a governor collects at once, in full, whatever its `minIntervalMs` and `young`.
 * The interval kept most collections from happening on large rows: pieces of 3–4 MiB come faster than every 50 ms,
 * and each leaves several buffers of its size outside the heap (the driver's, the encoded page, an inflated member)
 * until a collection. They piled up until V8's own limit on memory outside the heap (~64 MB over its last full
 * collection) collected them: the restore's main thread peaked at 89 MB outside its heap, the verifying thread at
 * 76 MB. Measured on the bench's `large` shape, working process, three alternating runs (docs/BENCHMARKS.md, session
 * 23): backup 169–174 → 153–158 MB, restore 242–258 → 186–203 MB, each ~0.1–0.3 s slower (4 MiB: the same memory,
 * slower; scavenges instead of full collections: no lower). Pieces of ordinary rows (~1 MiB) never count here.
 */
const LARGE_COLLECT = 6 * 1024 * 1024;

/**
 * `young`: collect the young generation only. For a loop whose garbage dies within one step (the read-back's pages:
 * each one's buffers are dropped once it is hashed), a scavenge frees them, their memory outside the heap with them,
 * for a fraction of a full collection. The read-back of the wide bench shape took 0.35 s less (2.83 against 3.17 s)
 * at the same peak RSS, and current's 3x restore peaked at 142 against 144 MB (docs/BENCHMARKS.md, session 14).
 */
export function createMemoryGovernor(opts: GovernorOptions = {}) {
  const everyBytes = opts.everyBytes ?? 4 * 1024 * 1024;
  const minInterval = opts.minIntervalMs ?? 50;
  let since = 0;
  let last = Date.now();
  let collections = 0;
  let largeSince = 0;
  return {
    /** Reports `bytes` of work done; collects garbage when enough has passed. */
    tick(bytes: number) {
      since += bytes;
      if (bytes > LARGE_PIECE) largeSince += bytes;
      const urgent = largeSince >= LARGE_COLLECT;
      if (since < everyBytes && !urgent) return;
      const now = Date.now();
      if (now - last < minInterval && !urgent) return;
      since = 0;
      largeSince = 0;
      last = now;
      // Never gc(undefined): Node 22 and 24 read any argument as options, and an undefined one as a minor collection.
      const major = urgent || !opts.young || (opts.majorEvery !== undefined && ++collections % opts.majorEvery === 0);
      if (major) gc()?.();
      else gc()?.({ type: 'minor' });
    },
  };
}
