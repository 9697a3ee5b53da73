/** The status page, behind STATUS_SECRET (or CRON_SECRET): the library's handler, as is (src/cron/status.ts). */
import { createStatusHandler } from '../../src/cron/status.js';

export const GET = createStatusHandler();
