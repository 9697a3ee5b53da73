/**
 * Inventory sources. Each is an `InventorySource`: a function returning an async iterable of MediaRows, read in
 * bounded pages (database) or as the dump streams by, so the commands never hold the whole inventory.
 *
 * - `dbInventory`: a SELECT of the media table of TURSO_DATABASE_URL, by keyset pages.
 * - `dumpInventory`: the media section of a dump (or, when the media table asked for is not the one the backup
 *   inventoried, that table's own section). The whole dump is read and verified on the way, so a damaged dump fails
 *   the command instead of yielding a partial inventory silently.
 */
import type { Readable } from 'node:stream';
import { openDb } from '../db/open.js';
import { rowPages } from '../db/pages.js';
import { countRows } from '../db/schema.js';
import { BackupError } from '../errors.js';
import { dumpBytes } from '../format/decode.js';
import type { HeaderLine } from '../format/lines.js';
import { readDump } from '../format/reader.js';
import { decodeRows } from '../format/rows.js';
import { DEFAULT_MEDIA_COLUMNS, rowMapper, type Inventory, type MediaColumns, type MediaRow } from './model.js';
import { describeMediaTable, mediaPageable, mediaSelectColumns } from './table.js';

/** The media table of the database at `url`, read in one snapshot by keyset pages. */
export function dbInventory(url: string, authToken: string | undefined, spec: MediaColumns, label: string): Inventory {
  return {
    label,
    rows: async function* (hooks) {
      const db = await openDb(url, { readonly: true, authToken });
      try {
        await db.beginRead();
        const t = await describeMediaTable(db, spec);
        const columns = mediaSelectColumns(t, spec);
        if (hooks?.onTotal) hooks.onTotal(await countRows(db, t.name));
        const map = rowMapper([...t.keyColumns.map((k) => `\u0000key:${k}`), ...columns], spec, `\u0000key:${t.keyColumns[0]}`);
        for await (const page of rowPages(db, mediaPageable(t, columns), { pages: MEDIA_PAGES })) {
          for (const cells of page) yield map(cells);
        }
        await db.endRead();
      } finally {
        await db.close();
      }
    },
  };
}

/** Media rows are small: pages of a thousand, as before the pager was shared. */
export const MEDIA_PAGES = { firstRows: 1000, maxRows: 1000, targetBytes: 64 * 1024 * 1024 };

/** The spec a dump is read with: explicit flags win, else what the backup recorded, else the defaults. */
export function dumpSpec(header: HeaderLine, explicit: Partial<MediaColumns>): MediaColumns {
  const recorded = header.media ? { table: header.media.table, urlColumn: header.media.urlColumn, pathnameColumn: header.media.pathnameColumn } : {};
  return { ...DEFAULT_MEDIA_COLUMNS, ...recorded, ...explicit };
}

/**
 * The inventory in a dump. `openInput` opens the raw (possibly gzip/encrypted) dump bytes; it is called once per
 * iteration, so the source can be iterated again.
 */
export function dumpInventory(openInput: () => Promise<Readable>, explicit: Partial<MediaColumns>, label: string, key?: Buffer): Inventory {
  return {
    label,
    rows: async function* (hooks) {
      const { bytes } = await dumpBytes(await openInput(), key);
      let spec: MediaColumns | null = null;
      let target: 'media' | 'table' | null = null;
      let inSection = false;
      let map: ((cells: unknown[]) => MediaRow) | null = null;
      let found = false;
      let keyColumn: string | undefined;
      for await (const ev of readDump(bytes)) {
        switch (ev.kind) {
          case 'header': {
            spec = dumpSpec(ev.header, explicit);
            const info = ev.header.tables.find((x) => x.name === spec!.table);
            keyColumn = info?.rowidColumn ? info.dataColumns[0] : undefined;
            if (ev.header.media?.present && ev.header.media.table === spec.table) {
              target = 'media';
              hooks?.onTotal?.(ev.header.media.rows);
            } else {
              if (!info) {
                throw new BackupError(
                  'NOT_FOUND',
                  ev.header.media
                    ? `the dump inventories media table "${ev.header.media.table}" and holds no table "${spec.table}"`
                    : `the dump has no media inventory and no table "${spec.table}" (set the media table with --media-table)`,
                );
              }
              target = 'table';
              hooks?.onTotal?.(info.rows);
            }
            break;
          }
          case 'media':
          case 'table': {
            const name = ev.kind === 'media' ? ev.start.table : ev.start.name;
            inSection = ev.kind === target && name === spec!.table;
            if (inSection) {
              const columns = ev.start.columns;
              if (!columns.includes(spec!.urlColumn)) {
                throw new BackupError(
                  'USAGE',
                  `the dump's ${ev.kind === 'media' ? 'media inventory' : `table "${name}"`} has no column "${spec!.urlColumn}" (set it with --url-column)`,
                );
              }
              map = rowMapper(columns, spec!, keyColumn);
              found = true;
            }
            break;
          }
          case 'rows':
            if (inSection) for (const r of decodeRows(ev.bytes)) yield map!(r);
            break;
          case 'end':
          case 'media-end':
            inSection = false;
            break;
          case 'trailer':
            break;
        }
      }
      if (!found) throw new BackupError('CORRUPT', `the dump has no section for "${spec?.table ?? '(media)'}"`);
    },
  };
}
