#!/usr/bin/env -S npx tsx
import { mediaMirrorMain } from '../src/cli/media-mirror.js';
import { runCommand } from '../src/cli/run.js';

runCommand('media-mirror', (signal) => mediaMirrorMain(process.argv.slice(2), signal));
