#!/usr/bin/env -S npx tsx
import { verifyMain } from '../src/cli/verify.js';
import { runCommand } from '../src/cli/run.js';

runCommand('verify-backup', () => verifyMain(process.argv.slice(2)));
