#!/usr/bin/env -S npx tsx
import { listMain } from '../src/cli/list.js';
import { runCommand } from '../src/cli/run.js';

runCommand('list-backups', () => listMain(process.argv.slice(2)));
