#!/usr/bin/env -S npx tsx
import { restoreMain } from '../src/cli/restore.js';
import { runCommand } from '../src/cli/run.js';

runCommand('restore-turso', (signal) => restoreMain(process.argv.slice(2), signal));
