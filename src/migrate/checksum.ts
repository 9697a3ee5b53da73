/**
 * Migration checksums by Prisma's rules (prisma-engines: schema-engine/connectors/schema-connector/src/checksum.rs).
 *
 * - The checksum recorded for a migration is the SHA-256 of the script text (the file read as UTF-8), as 64
 *   lower-case hex digits (`render_checksum`).
 * - A recorded checksum matches the file (`script_matches_checksum`) when it equals the checksum of the script as
 *   it is, of the script with every CRLF turned into LF, or of the script with every LF turned into CRLF: a
 *   checkout with other line endings (git autocrlf) is not a change. The LF→CRLF variant is applied to the text as
 *   it is, so a file that already has CRLF becomes CR CR LF there, exactly as Prisma computes it.
 * - A recorded checksum that is not 64 characters long (and not empty) was written by an old schema engine that
 *   did not zero-pad each byte (prisma-engines issue #1887): it is compared in that format (`{byte:x}` per byte).
 */
import { createHash } from 'node:crypto';

const CHECKSUM_LENGTH = 64;

const sha256 = (text: string): Buffer => createHash('sha256').update(text, 'utf8').digest();

/** The checksum Prisma records for a migration script. */
export function scriptChecksum(script: string): string {
  return sha256(script).toString('hex');
}

/** The obsolete format: each byte in hex without zero padding. */
const oldFormat = (digest: Buffer): string => Array.from(digest, (b) => b.toString(16)).join('');

/** Whether a recorded checksum matches the script, by Prisma's rules (line endings, old unpadded format). */
export function checksumMatches(script: string, recorded: string): boolean {
  const old = recorded.length !== 0 && recorded.length !== CHECKSUM_LENGTH;
  const variants = [script, script.replaceAll('\r\n', '\n'), script.replaceAll('\n', '\r\n')];
  return variants.some((v) => {
    const digest = sha256(v);
    return (old ? oldFormat(digest) : digest.toString('hex')) === recorded;
  });
}
