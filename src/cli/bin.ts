#!/usr/bin/env node
/**
 * The executable: `node dist/cli/bin.js <command> [flags]` (bin/turso-backup.mjs imports it). The `scripts/*.ts`
 * aliases start it with TURSO_BACKUP_ALIAS=1 so that messages and help name the alias the operator typed.
 */
import { main } from './main.js';

const alias = process.env.TURSO_BACKUP_ALIAS === '1';
delete process.env.TURSO_BACKUP_ALIAS;
main(process.argv.slice(2), { alias });
