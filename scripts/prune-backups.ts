#!/usr/bin/env -S npx tsx
import { pruneMain } from '../src/cli/prune.js';
import { runCommand } from '../src/cli/run.js';

runCommand('prune-backups', () => pruneMain(process.argv.slice(2)));
