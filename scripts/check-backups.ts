#!/usr/bin/env -S npx tsx
import { relaunch } from '../src/cli/relaunch.js';

relaunch('check');
