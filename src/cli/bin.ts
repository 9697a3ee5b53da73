#!/usr/bin/env node
/**
 * The executable: `node dist/cli/bin.js <command> [flags]` (bin/turso-backup.mjs imports it). The `scripts/*.ts`
 * aliases start it with TURSO_BACKUP_ALIAS=1 so that messages and help name the alias the operator typed. Neither that
 * nor bin/relaunch.mjs's marker (TURSO_BACKUP_CHILD) is left for anything this process starts.
 */
import { main } from './main.js';

const alias = process.env.TURSO_BACKUP_ALIAS === '1';
delete process.env.TURSO_BACKUP_ALIAS;
delete process.env.TURSO_BACKUP_CHILD;
main(process.argv.slice(2), { alias });
