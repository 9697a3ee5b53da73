/**
 * Encrypted container: streaming authenticated encryption of a byte stream (the gzip NDJSON dump) with
 * AES-256-GCM in the STREAM construction (as Tink's AES-GCM-HKDF streaming AEAD and age do).
 *
 *   header = magic "TBKENC01" (8) | version 0x01 (1) | chunkSize u32 BE (4) | salt (16) | noncePrefix (7)
 *            | keyCheck (16)                                                                  = 52 bytes
 *   frame  = ciphertext length u32 BE (4) | ciphertext (length) | GCM tag (16)
 *
 * Per file, HKDF-SHA256(masterKey, salt) gives an AES key and an HMAC key, so nonces never repeat across files
 * under the same master key even if noncePrefix did. keyCheck = HMAC-SHA256(macKey, header[0..36))[0..16): a
 * wrong key or a changed header is reported before any frame is read. Frame i uses nonce
 * noncePrefix | u32 BE i | final flag (0x00 / 0x01) and AAD = the full 52-byte header, so reordered, duplicated,
 * dropped or cross-file frames fail their tag. Every frame but the last holds exactly chunkSize bytes; the last
 * holds fewer (possibly 0) and carries the final flag, so a reader knows which frame ends the stream from its
 * length alone, and a stream cut at a frame boundary is detected. See docs/FORMAT.md "Encrypted dumps".
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { ByteQueue } from '../byte-queue.js';
import { BackupError } from '../errors.js';

export const ENCRYPTION_MAGIC = Buffer.from('TBKENC01', 'ascii');
export const ENCRYPTION_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
/** Upper bound on chunkSize: a reader buffers one frame, so a header must not make it buffer gigabytes. */
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;

const SALT_LEN = 16;
const PREFIX_LEN = 7;
const CHECK_LEN = 16;
const TAG_LEN = 16;
const CHECKED_LEN = 8 + 1 + 4 + SALT_LEN + PREFIX_LEN; // header bytes covered by keyCheck (36)
export const HEADER_LEN = CHECKED_LEN + CHECK_LEN; // 52
const MAX_FRAMES = 0x1_0000_0000; // the frame counter is a u32
const HKDF_INFO = Buffer.from('turso-backup encrypted container v1', 'ascii');

const ERR_AUTH = 'wrong key, or the file was changed';
/** A block failing its tag after the header proved the key right: the file was changed, not the key wrong. */
const ERR_CHANGED = 'the encrypted file was changed: a block of it failed its authentication';
const ERR_TRUNCATED = 'encrypted file is truncated';

/** True when `head` (the first bytes of a file) starts with the container magic. Gzip starts 1f 8b. */
export function isEncrypted(head: Buffer): boolean {
  return head.length >= ENCRYPTION_MAGIC.length && head.subarray(0, ENCRYPTION_MAGIC.length).equals(ENCRYPTION_MAGIC);
}

interface FileKeys {
  encKey: Buffer;
  macKey: Buffer;
}

function assertKey(key: Buffer): void {
  if (key.length !== 32) throw new BackupError('CONFIG', 'encryption key must be 32 bytes');
}

function deriveKeys(masterKey: Buffer, salt: Buffer): FileKeys {
  const okm = Buffer.from(hkdfSync('sha256', masterKey, salt, HKDF_INFO, 64));
  return { encKey: okm.subarray(0, 32), macKey: okm.subarray(32) };
}

function keyCheck(macKey: Buffer, checked: Buffer): Buffer {
  return createHmac('sha256', macKey).update(checked).digest().subarray(0, CHECK_LEN);
}

function frameNonce(prefix: Buffer, counter: number, final: boolean): Buffer {
  const nonce = Buffer.allocUnsafe(12);
  prefix.copy(nonce, 0);
  nonce.writeUInt32BE(counter, PREFIX_LEN);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

/** A container being written: `push` returns the frames a piece of plaintext completes, `end` the rest. */
export interface Encryptor {
  /** The frames (header first, on the first call) sealed by this plaintext. */
  push(chunk: Buffer): Buffer[];
  /** The header if nothing was pushed, and the final frame (shorter than chunkSize, possibly empty). */
  end(): Buffer[];
}

/**
 * Encrypts a byte stream into the container, synchronously: the Transform below and the encrypting sink
 * (sink/encrypt.ts) are thin over it.
 */
export function createEncryptor(key: Buffer, opts: { chunkSize?: number } = {}): Encryptor {
  assertKey(key);
  const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isInteger(chunkSize) || chunkSize < 1 || chunkSize > MAX_CHUNK_SIZE) {
    throw new BackupError('CONFIG', `encryption chunk size must be an integer in 1..${MAX_CHUNK_SIZE}`);
  }
  const salt = randomBytes(SALT_LEN);
  const prefix = randomBytes(PREFIX_LEN);
  const { encKey, macKey } = deriveKeys(key, salt);
  const header = Buffer.alloc(HEADER_LEN);
  ENCRYPTION_MAGIC.copy(header, 0);
  header[8] = ENCRYPTION_VERSION;
  header.writeUInt32BE(chunkSize, 9);
  salt.copy(header, 13);
  prefix.copy(header, 13 + SALT_LEN);
  keyCheck(macKey, header.subarray(0, CHECKED_LEN)).copy(header, CHECKED_LEN);

  // Plaintext waiting for a full chunk, < chunkSize bytes, copied here: a pushed chunk's memory is the caller's
  // again once push() returns (the sink contract: sink/types.ts).
  const pending = Buffer.allocUnsafe(chunkSize);
  let pendingLen = 0;
  let counter = 0;
  let started = false;

  const seal = (final: boolean): Buffer => {
    if (counter >= MAX_FRAMES) throw new BackupError('INTERNAL', 'encrypted stream exceeds 2^32 frames');
    const cipher = createCipheriv('aes-256-gcm', encKey, frameNonce(prefix, counter++, final));
    cipher.setAAD(header);
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32BE(pendingLen, 0);
    const ct = cipher.update(pending.subarray(0, pendingLen));
    cipher.final();
    pendingLen = 0;
    return Buffer.concat([len, ct, cipher.getAuthTag()], 4 + ct.length + TAG_LEN);
  };
  // A copy: header stays our AAD whatever the consumer does with its chunk.
  const start = (out: Buffer[]) => {
    if (!started) {
      started = true;
      out.push(Buffer.from(header));
    }
    return out;
  };

  return {
    push(chunk) {
      const out = start([]);
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(chunkSize - pendingLen, chunk.length - off);
        pendingLen += chunk.copy(pending, pendingLen, off, off + take);
        off += take;
        // A full chunk is sealed at once as non-final: only end() knows the stream ended, and the final frame is
        // always shorter than chunkSize (empty if need be), which is how a reader recognises it.
        if (pendingLen === chunkSize) out.push(seal(false));
      }
      return out;
    },
    end() {
      const out = start([]);
      out.push(seal(true));
      return out;
    },
  };
}

/** The container as a Node Transform (plaintext in, container bytes out). */
export function createEncryptStream(key: Buffer, opts: { chunkSize?: number } = {}): Transform {
  const enc = createEncryptor(key, opts);
  const pushAll = (t: Transform, frames: Buffer[]) => {
    for (const f of frames) t.push(f);
  };
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        pushAll(this, enc.push(chunk));
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      try {
        pushAll(this, enc.end());
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
  });
}

/** The decrypting side of the container: header, then frames, each verified whole before any of it is given out. */
class FrameReader {
  private readonly queue = new ByteQueue();
  private stage: 'header' | 'length' | 'frame' | 'done' = 'header';
  private need = HEADER_LEN; // bytes the current stage waits for
  private header: Buffer | undefined;
  private encKey: Buffer | undefined;
  private prefix: Buffer | undefined;
  private chunkSize = 0;
  private counter = 0;
  private frameLen = 0;

  constructor(private readonly key: Buffer) {}

  /** Takes `chunk` in; returns the plaintext of every frame it completed. */
  *take(chunk: Buffer): Generator<Buffer> {
    this.queue.append(chunk);
    while (this.stage !== 'done' && this.queue.length >= this.need) {
      const bytes = this.queue.read(this.need);
      if (this.stage === 'header') {
        this.parseHeader(bytes);
        this.stage = 'length';
        this.need = 4;
      } else if (this.stage === 'length') {
        this.frameLen = bytes.readUInt32BE(0);
        // A longer frame is never written; refusing it also bounds what we buffer to one frame.
        if (this.frameLen > this.chunkSize) throw new BackupError('CORRUPT', ERR_CHANGED);
        this.stage = 'frame';
        this.need = this.frameLen + TAG_LEN;
      } else {
        // Only the final frame is shorter than chunkSize: the writer always seals full chunks as non-final.
        const final = this.frameLen < this.chunkSize;
        const plain = this.open(bytes, final);
        this.stage = final ? 'done' : 'length';
        this.need = 4;
        if (plain.length > 0) yield plain;
      }
    }
    if (this.stage === 'done' && this.queue.length > 0) throw new BackupError('CORRUPT', 'encrypted file has trailing data after its final frame');
  }

  /** The input ended: null when the container was complete, else why not. */
  end(): BackupError | null {
    if (this.stage === 'done') return null;
    if (this.stage === 'header' && this.queue.length > 0) {
      // A short file: say "not encrypted" rather than "truncated" when it does not even start with the magic.
      const head = this.queue.peek(ENCRYPTION_MAGIC.length);
      if (!head.equals(ENCRYPTION_MAGIC.subarray(0, head.length))) return new BackupError('CORRUPT', 'not an encrypted backup (bad magic)');
    }
    return new BackupError('CORRUPT', ERR_TRUNCATED);
  }

  private parseHeader(h: Buffer): void {
    if (!isEncrypted(h)) throw new BackupError('CORRUPT', 'not an encrypted backup (bad magic)');
    if (h[8] !== ENCRYPTION_VERSION) throw new BackupError('CORRUPT', `unsupported encrypted container version ${h[8]}`);
    const keys = deriveKeys(this.key, h.subarray(13, 13 + SALT_LEN));
    // Checked before any frame: with a wrong key this is the failure, and the header fields are trusted after it.
    if (!timingSafeEqual(keyCheck(keys.macKey, h.subarray(0, CHECKED_LEN)), h.subarray(CHECKED_LEN, HEADER_LEN))) {
      throw new BackupError('DECRYPT', ERR_AUTH);
    }
    this.chunkSize = h.readUInt32BE(9);
    if (this.chunkSize < 1 || this.chunkSize > MAX_CHUNK_SIZE) {
      throw new BackupError('CORRUPT', `encrypted file has an unsupported chunk size ${this.chunkSize}`);
    }
    this.header = Buffer.from(h); // own copy: h may be a view of a caller's buffer
    this.encKey = keys.encKey;
    this.prefix = this.header.subarray(13 + SALT_LEN, 13 + SALT_LEN + PREFIX_LEN);
  }

  /** Decrypts one frame (ciphertext | tag); the whole frame is verified before any of it is returned. */
  private open(frame: Buffer, final: boolean): Buffer {
    if (this.counter >= MAX_FRAMES) throw new BackupError('CORRUPT', 'encrypted file has too many frames');
    const decipher = createDecipheriv('aes-256-gcm', this.encKey!, frameNonce(this.prefix!, this.counter++, final));
    decipher.setAAD(this.header!);
    decipher.setAuthTag(frame.subarray(this.frameLen));
    const plain = decipher.update(frame.subarray(0, this.frameLen));
    try {
      decipher.final(); // verifies the tag; nothing of this frame is pushed before it passes
    } catch {
      throw new BackupError('CORRUPT', ERR_CHANGED);
    }
    return plain;
  }
}

/** A Transform from the container's bytes to the plaintext, refusing (DECRYPT/CORRUPT) anything changed or cut. */
export function createDecryptStream(key: Buffer): Transform {
  assertKey(key);
  const reader = new FrameReader(key);
  return new Transform({
    transform(chunk: Buffer, _enc, cb: TransformCallback) {
      try {
        for (const plain of reader.take(chunk)) this.push(plain);
        cb();
      } catch (err) {
        cb(err as Error);
      }
    },
    flush(cb: TransformCallback) {
      cb(reader.end());
    },
  });
}
