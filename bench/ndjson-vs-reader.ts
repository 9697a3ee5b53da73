/**
 * Why the dump reader is our own and not `ndjson`: reads a dump (default: the bench's, written by `npm run bench`)
 * both ways, alternating, and prints the times. `npx tsx bench/ndjson-vs-reader.ts [DUMP]`
 */
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import ndjson from 'ndjson';
import { readDump, rowLines } from '../src/format/reader.js';
const file = process.argv[2] ?? 'bench/data/work/current-v1-x1/ours.ndjson.gz';
for (const mode of ['ndjson', 'ours-parse', 'ndjson', 'ours-parse']) {
  const t = Date.now();
  let n = 0;
  if (mode === 'ndjson') {
    await new Promise<void>((res, rej) =>
      createReadStream(file)
        .pipe(createGunzip())
        .pipe(ndjson.parse())
        .on('data', () => n++)
        .on('end', res)
        .on('error', rej),
    );
  } else {
    for await (const ev of readDump(createReadStream(file).pipe(createGunzip()), { checksums: false }))
      if (ev.kind === 'rows') {
        const rows = JSON.parse(`[${[...rowLines(ev.bytes)].map(([s, e]) => ev.bytes.toString('utf8', s, e)).join(',')}]`);
        n += rows.length;
      }
  }
  console.log(mode, Date.now() - t, 'ms', n);
}
