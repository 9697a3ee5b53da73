#!/usr/bin/env -S npx tsx
// `turso-backup report`, run from a checkout (scripts/lib/launch.mjs: always the current sources, never under tsx).
import { launch } from './lib/launch.mjs';

void launch('report');
