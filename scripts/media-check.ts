#!/usr/bin/env -S npx tsx
import { mediaCheckMain } from '../src/cli/media-check.js';
import { runCommand } from '../src/cli/run.js';

runCommand('media-check', (signal) => mediaCheckMain(process.argv.slice(2), signal));
