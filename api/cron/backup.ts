/** The daily backup as a Vercel Function (vercel.json's `crons`): the library's handler, as is (src/cron/handler.ts). */
import { createCronHandler } from '../../src/cron/handler.js';

export const GET = createCronHandler();
