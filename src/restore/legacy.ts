import { BackupError } from '../errors.js';
import type { RestoreOptions, RestoreResult } from '../restore.js';

export async function restoreLegacy(_opts: RestoreOptions): Promise<RestoreResult> {
  throw new BackupError('UNSUPPORTED', 'legacy JSON restore is not available yet');
}
