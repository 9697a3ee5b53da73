/**
 * An encrypting sink: the dump's gzip bytes are sealed into the encrypted container (crypto/container.ts, docs/FORMAT.md
 * "Encrypted dumps") on their way to another sink. Wrapping the whole tee (not each branch) keeps `--write --upload
 * --encrypt` byte-identical in both places, as one container with one salt.
 */
import { createHash } from 'node:crypto';
import { createEncryptor } from '../crypto/container.js';
import type { Manifest } from '../format/lines.js';
import type { Sink, SinkResult } from './types.js';

/** A sink encrypting the dump with `key` (32 bytes) on its way to `inner`; the manifest describes what was stored. */
export function encryptSink(inner: Sink, key: Buffer, opts: { chunkSize?: number } = {}): Sink {
  const enc = createEncryptor(key, opts);
  const stored = { bytes: 0, hash: createHash('sha256') };
  let ended = false; // the final frame is sent
  const send = async (frames: Buffer[]) => {
    for (const f of frames) {
      stored.bytes += f.length;
      stored.hash.update(f);
      await inner.write(f);
    }
  };
  return {
    kind: 'encrypted',
    label: inner.label,
    fileName: inner.fileName,
    inner: [inner],
    open: () => inner.open(),
    write: (chunk) => send(enc.push(chunk)),
    async flush() {
      if (!ended) {
        ended = true;
        await send(enc.end());
      }
      await inner.flush?.();
    },
    async commit(manifest: Manifest): Promise<SinkResult> {
      if (!ended) {
        ended = true;
        await send(enc.end());
      }
      // The manifest describes the file as stored: the container, not the gzip stream inside it.
      manifest.file = { ...manifest.file, bytes: stored.bytes, sha256: stored.hash.digest('hex'), encrypted: true };
      return inner.commit(manifest);
    },
    abort: () => inner.abort(),
  };
}
