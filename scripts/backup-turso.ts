#!/usr/bin/env -S npx tsx
import { backupMain } from '../src/cli/backup.js';
import { runCommand } from '../src/cli/run.js';

runCommand('backup-turso', (signal) => backupMain(process.argv.slice(2), signal));
