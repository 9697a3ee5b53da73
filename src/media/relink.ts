/**
 * relink-media: rewrites the url (and, when it follows the url, the pathname) of media rows after the media moved.
 *
 * The rule (docs/notes-media.md):
 * - prefix mode (`--from F --to T`): a row whose url starts with F gets url T + (the rest after F). When T itself
 *   starts with F (a move into a sub-folder of the same base), urls already under T are left alone.
 * - map mode (`--map FILE`): a row whose url equals an old url of the map gets its new url (exact match only).
 * - pathname: the "path" of a url is its URL path, percent-decoded, without the leading `/` (for a Vercel Blob url
 *   that is exactly the blob's pathname). The pathname column changes only when it equals the path of the OLD url,
 *   and then becomes the path of the new url. A pathname that does not follow its url (a proxy or CDN url, a
 *   stand-in url with a `/store/` base) is never touched, and neither is any other column.
 * - idempotence: a rewrite whose result the same rule would rewrite again (a chained map, a prefix that reappears
 *   in the rewritten url) is refused before anything is written, so a second run always changes nothing.
 */
import { readFile } from 'node:fs/promises';
import { rowPages } from '../db/pages.js';
import type { Db } from '../db/types.js';
import { q } from '../db/url.js';
import { BackupError } from '../errors.js';
import { idCell, textCell, type MediaColumns } from './model.js';
import { describeMediaTable, mediaPageable } from './table.js';

interface Stmt {
  sql: string;
  args: unknown[];
}

export type RelinkRule = { kind: 'prefix'; from: string; to: string } | { kind: 'map'; map: Map<string, string> };

/** The URL path, percent-decoded, without its leading slash; null when `url` is not an absolute URL. */
export function urlPath(url: string): string | null {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return null;
  }
  try {
    return decodeURIComponent(u.pathname).replace(/^\//, '');
  } catch {
    return u.pathname.replace(/^\//, '');
  }
}

export interface Rewrite {
  url: string;
  /** The new pathname, or undefined when the pathname column stays as it is. */
  pathname?: string;
}

function rewriteUrl(rule: RelinkRule, url: string): string | null {
  if (rule.kind === 'map') {
    const to = rule.map.get(url);
    return to === undefined || to === url ? null : to;
  }
  if (!url.startsWith(rule.from)) return null;
  if (rule.to.startsWith(rule.from) && url.startsWith(rule.to)) return null;
  const out = rule.to + url.slice(rule.from.length);
  return out === url ? null : out;
}

/** What the rule does to one row; null when the row does not change. */
export function relinkRow(rule: RelinkRule, url: string | null, pathname: string | null): Rewrite | null {
  if (url === null) return null;
  const next = rewriteUrl(rule, url);
  if (next === null) return null;
  const out: Rewrite = { url: next };
  if (pathname !== null && urlPath(url) === pathname) {
    const np = urlPath(next);
    if (np !== null && np !== '' && np !== pathname) out.pathname = np;
  }
  return out;
}

export interface RelinkExample {
  id: string | number | null;
  url: { old: string; new: string };
  pathname?: { old: string | null; new: string };
}

export interface RelinkResult {
  mode: 'dry-run' | 'confirm';
  /** Rows read (prefix mode reads only the rows whose url starts with --from). */
  scanned: number;
  /** Rows the rule rewrites (dry run: would rewrite). */
  matched: number;
  /** Of those, rows whose pathname changes too. */
  pathnames: number;
  /** Rows actually updated (confirm only; equals matched unless the table changed under us). */
  changed: number;
  examples: RelinkExample[];
  durationMs: number;
}

export interface RelinkOptions {
  confirm: boolean;
  examples?: number;
  onProgress?: (scanned: number, matched: number) => void;
  pageRows?: number;
}

/**
 * Rewrites the media rows the rule matches: a dry run counts them; with `confirm` the whole rewrite is validated
 * first (a refusal leaves everything untouched), then applied in one write transaction.
 */
export async function relinkMedia(db: Db, spec: MediaColumns, rule: RelinkRule, opts: RelinkOptions): Promise<RelinkResult> {
  const started = Date.now();
  const t = await describeMediaTable(db, spec);
  const columns = [spec.urlColumn];
  if (t.has.pathname) columns.push(spec.pathnameColumn);
  if (t.has.id && !columns.includes(spec.idColumn)) columns.push(spec.idColumn);
  const plan = rewritePlan(t.keyColumns, t.name, spec, t.has.pathname, columns);
  const filter = rule.kind === 'prefix' ? { sql: `substr(${q(spec.urlColumn)}, 1, length(?)) = ?`, args: [rule.from, rule.from] } : undefined;
  const pageRows = opts.pageRows ?? 1000;
  const pages = { firstRows: pageRows, maxRows: pageRows, targetBytes: 64 * 1024 * 1024 };
  const r: RelinkResult = { mode: opts.confirm ? 'confirm' : 'dry-run', scanned: 0, matched: 0, pathnames: 0, changed: 0, examples: [], durationMs: 0 };

  const walk = async (apply: boolean) => {
    for await (const page of rowPages(db, mediaPageable(t, columns), { filter, pages })) {
      const stmts = page.flatMap((row) => plan.statement(rule, row, r, opts.examples ?? 5) ?? []);
      if (apply && stmts.length) r.changed += await db.runBatch(stmts);
      opts.onProgress?.(r.scanned, r.matched);
    }
  };

  await walk(false);
  if (opts.confirm && r.matched > 0) {
    // Validate the whole rewrite before writing (a refusal must leave everything untouched), then apply it in one
    // transaction. The dry pass is cheap next to the writes and keeps the transaction short.
    Object.assign(r, { scanned: 0, matched: 0, pathnames: 0, examples: [] });
    await db.beginWrite();
    try {
      await walk(true);
      await db.commit();
    } catch (e) {
      await db.rollback();
      throw e;
    }
  }
  r.durationMs = Date.now() - started;
  return r;
}

/** The UPDATE for one row the rule rewrites (or null), counting it in `r`; refuses a rule that is not idempotent. */
function rewritePlan(keyColumns: string[], table: string, spec: MediaColumns, hasPathname: boolean, columns: string[]) {
  const nk = keyColumns.length;
  const pathAt = hasPathname ? nk + 1 : -1;
  const idAt = columns.includes(spec.idColumn) ? nk + columns.indexOf(spec.idColumn) : 0;
  const keyWhere = keyColumns.map((k) => `${q(k)} = ?`).join(' AND ');
  const updUrl = `UPDATE ${q(table)} SET ${q(spec.urlColumn)} = ? WHERE ${keyWhere} AND ${q(spec.urlColumn)} = ?`;
  const updBoth = `UPDATE ${q(table)} SET ${q(spec.urlColumn)} = ?, ${q(spec.pathnameColumn)} = ? WHERE ${keyWhere} AND ${q(spec.urlColumn)} = ?`;
  return {
    statement(rule: RelinkRule, row: unknown[], r: RelinkResult, maxExamples: number): Stmt | null {
      r.scanned++;
      const url = textCell(row[nk]);
      const pathname = pathAt >= 0 ? textCell(row[pathAt]) : null;
      const w = relinkRow(rule, url, pathname);
      if (!w) return null;
      if (relinkRow(rule, w.url, w.pathname ?? pathname)) {
        throw new BackupError(
          'REFUSED',
          `not idempotent: row ${String(idCell(row[idAt]))} would go ${url} → ${w.url}, which the same rule rewrites again (a chained --map or a --to that brings back --from); nothing was changed`,
        );
      }
      r.matched++;
      if (w.pathname !== undefined) r.pathnames++;
      if (r.examples.length < maxExamples) {
        r.examples.push({
          id: idCell(row[idAt]),
          url: { old: url!, new: w.url },
          ...(w.pathname !== undefined ? { pathname: { old: pathname, new: w.pathname } } : {}),
        });
      }
      const keys = row.slice(0, nk);
      return w.pathname !== undefined ? { sql: updBoth, args: [w.url, w.pathname, ...keys, url] } : { sql: updUrl, args: [w.url, ...keys, url] };
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// --map FILE: CSV `old,new` lines (an optional `old,new` header) or JSON ({old: new} or [[old, new]] or
// [{old, new}] / [{from, to}]).

export async function readMapFile(path: string): Promise<Map<string, string>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new BackupError('NOT_FOUND', `cannot read the map file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseMap(text, path);
}

export function parseMap(text: string, label = 'the map'): Map<string, string> {
  const body = text.replace(/^\uFEFF/, '');
  const pairs = /^\s*[[{]/.test(body) ? jsonPairs(body, label) : csvPairs(body, label);
  const map = new Map<string, string>();
  for (const [i, [from, to]] of pairs.entries()) {
    if (!from || !to) throw new BackupError('USAGE', `${label}: entry ${i + 1} has an empty url`);
    const prev = map.get(from);
    if (prev !== undefined && prev !== to) throw new BackupError('USAGE', `${label}: ${from} is mapped twice (to ${prev} and to ${to})`);
    map.set(from, to);
  }
  return map;
}

function jsonPairs(text: string, label: string): [string, string][] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new BackupError('USAGE', `${label} is not valid JSON: ${(e as Error).message}`);
  }
  const bad = (): never => {
    throw new BackupError('USAGE', `${label}: expected {"old": "new", …}, [["old", "new"], …] or [{"old", "new"}, …]`);
  };
  const str = (x: unknown) => (typeof x === 'string' ? x : bad());
  if (Array.isArray(v)) {
    return v.map((e): [string, string] => {
      if (Array.isArray(e) && e.length === 2) return [str(e[0]), str(e[1])];
      if (e && typeof e === 'object') {
        const o = e as Record<string, unknown>;
        if ('old' in o) return [str(o.old), str(o.new)];
        if ('from' in o) return [str(o.from), str(o.to)];
      }
      return bad();
    });
  }
  if (v && typeof v === 'object') return Object.entries(v as Record<string, unknown>).map(([k, x]) => [k, str(x)]);
  return bad();
}

/** RFC 4180 style: fields may be quoted ("" escapes a quote); blank lines are skipped. */
function csvPairs(text: string, label: string): [string, string][] {
  const out: [string, string][] = [];
  const lines = text.split(/\r?\n/);
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n]!;
    if (line.trim() === '') continue;
    const fields: string[] = [];
    let i = 0;
    while (i <= line.length) {
      if (line[i] === '"') {
        let f = '';
        i++;
        for (;;) {
          if (i >= line.length) throw new BackupError('USAGE', `${label}: line ${n + 1} has an unterminated quote`);
          if (line[i] === '"') {
            if (line[i + 1] === '"') {
              f += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          f += line[i++];
        }
        fields.push(f);
        if (i < line.length && line[i] !== ',') throw new BackupError('USAGE', `${label}: line ${n + 1}: text after a quoted field`);
        i++;
      } else {
        const end = line.indexOf(',', i);
        const stop = end < 0 ? line.length : end;
        fields.push(line.slice(i, stop).trim());
        i = stop + 1;
      }
    }
    if (fields.length !== 2) throw new BackupError('USAGE', `${label}: line ${n + 1} has ${fields.length} fields, expected old,new`);
    const [a, b] = fields as [string, string];
    if (out.length === 0 && /^(old|from)(_?url)?$/i.test(a) && /^(new|to)(_?url)?$/i.test(b)) continue; // header
    out.push([a, b]);
  }
  return out;
}
