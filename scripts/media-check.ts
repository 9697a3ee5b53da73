#!/usr/bin/env -S npx tsx
// `turso-backup media-check`, run from a checkout (scripts/lib/launch.mjs: always the current sources, never under tsx).
import { launch } from './lib/launch.mjs';

void launch('media-check');
