#!/usr/bin/env -S npx tsx
import { migrateMain } from '../src/cli/migrate.js';
import { runCommand } from '../src/cli/run.js';

runCommand('migrate-turso', () => migrateMain(process.argv.slice(2)));
