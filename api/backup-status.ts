/**
 * The status page, behind STATUS_SECRET (or CRON_SECRET): the library's handler, as is (src/cron/status.ts). Served at
 * /api/backups/status by a rewrite in vercel.json: a file under a `backups/` folder would look like a dump to the
 * checks that keep dumps out of git.
 */
import { createStatusHandler } from '../src/cron/status.js';

export const GET = createStatusHandler();
