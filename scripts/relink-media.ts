#!/usr/bin/env -S npx tsx
import { relinkMain } from '../src/cli/relink.js';
import { runCommand } from '../src/cli/run.js';

runCommand('relink-media', () => relinkMain(process.argv.slice(2)));
