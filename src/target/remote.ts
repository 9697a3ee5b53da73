/**
 * A remote target over HTTP through @libsql/client. (Filled in by the remote restore work.)
 */
import { BackupError } from '../errors.js';
import type { TargetFactory } from './types.js';

export function remoteTargetFactory(_url: string, _authToken?: string): TargetFactory {
  throw new BackupError('UNSUPPORTED', 'restoring into a remote database is not available yet');
}
