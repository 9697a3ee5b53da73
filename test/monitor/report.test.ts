/**
 * The status page: written by `backup-report --html` (spawned as an operator runs it) for a store of 30 real daily
 * backups (plus an incomplete dump and a drill record), then opened in headless Chromium from a file:// URL.
 * It must load with no console message, no page error and no request but its own, keep its strict CSP, and show
 * what the store holds (asserted on the DOM). One screenshot is kept as docs/status-page.png
 * (UPDATE_SCREENSHOT=1 rewrites it).
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { drill } from '../../src/drill.js';
import { openLocalFile } from '../../src/dump-source.js';
import { recordDrill } from '../../src/monitor/drills.js';
import { STATUS_CSP } from '../../src/monitor/report-html.js';
import { buildAppDb, buildHistory, DAY, redate } from '../support/backup-history.js';
import { launchChromium, type Browser } from '../support/chromium.js';
import { tempDirs } from '../support/dumps.js';
import { runScript } from '../support/scripts.js';
import { ROOT } from '../blob/helpers.js';

const dirs = tempDirs('tb-report-');
let store: string;
let page: string;
let stalePage: string;
let browser: Browser;

beforeAll(async () => {
  const root = dirs.make();
  const db = join(root, 'app.db');
  buildAppDb(db);
  store = join(root, 'backups');
  mkdirSync(store);
  const dumps = await buildHistory(db, store, 30);
  // A run that never wrote its manifest, 10 days ago: listed as incomplete, not a problem (newer complete ones).
  copyFileSync(dumps[19]!, join(store, `backup-${new Date(Date.now() - 10.5 * DAY).toISOString().replaceAll(':', '-')}.ndjson.gz`));
  const newest = dumps[dumps.length - 1]!;
  const manifest = JSON.parse(readFileSync(`${newest}.manifest.json`, 'utf8'));
  const report = await drill({ openInput: async () => openLocalFile(newest), manifest });
  expect(report.pass).toBe(true);
  await recordDrill(newest, false, manifest, report);

  page = join(root, 'status.html');
  const r = await runScript('backup-report', ['--dir', store, '--html', page], { BLOB_READ_WRITE_TOKEN: undefined });
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/^wrote .*status\.html: 31 backup\(s\) from local folder .*; OK: newest complete backup 2 h \d+ min old/); // minutes pass while the history is built

  // The same store three days later: a stale verdict.
  const stale = join(root, 'stale');
  mkdirSync(stale);
  for (const f of readdirSync(store)) copyFileSync(join(store, f), join(stale, f));
  for (const f of readdirSync(stale).filter((n) => n.endsWith('.manifest.json'))) {
    const m = JSON.parse(readFileSync(join(stale, f), 'utf8'));
    redate(join(stale, f), new Date(Date.parse(m.createdAt) - 3 * DAY));
  }
  stalePage = join(root, 'stale.html');
  expect((await runScript('backup-report', ['--dir', stale, '--html', stalePage], { BLOB_READ_WRITE_TOKEN: undefined })).code).toBe(0);

  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  dirs.cleanup();
});

/** Opens a file in a fresh page, recording every console message, page error and request. */
async function open(file: string) {
  const p = await browser.context.newPage();
  const seen = { console: [] as string[], errors: [] as string[], requests: [] as string[], failed: [] as string[] };
  p.on('console', (m) => seen.console.push(`${m.type()}: ${m.text()}`));
  p.on('pageerror', (e) => seen.errors.push(e.message));
  browser.context.on('request', (r) => seen.requests.push(r.url()));
  browser.context.on('requestfailed', (r) => seen.failed.push(r.url()));
  await p.goto(`file://${file}`, { waitUntil: 'load' });
  return { p, seen };
}

describe('the status page in headless Chromium', () => {
  it('is one static file: no script, no external reference, a CSP with its style hash, mode 0600', () => {
    const html = readFileSync(page, 'utf8');
    expect(html).not.toMatch(/<script|javascript:|\son[a-z]+=|\sstyle=|<link|<img|<iframe|@import|url\(|https?:\/\/(?!www\.w3\.org\/2000\/svg)/i);
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="${STATUS_CSP}">`);
    expect(STATUS_CSP).toMatch(/^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*';/);
    expect(statSync(page).mode & 0o777).toBe(0o600);
  });

  it('loads with no console message and no request but its own; shows the charts, tables and verdict', async () => {
    const { p, seen } = await open(page);
    expect(seen.console).toEqual([]);
    expect(seen.errors).toEqual([]);
    expect(seen.requests).toEqual([`file://${page}`]);
    expect(seen.failed).toEqual([]);

    // The hashed stylesheet applied (a CSP violation would have dropped it and logged an error).
    expect(await p.locator('#verdict').evaluate((e) => getComputedStyle(e).borderLeftWidth)).toBe('6px');
    expect(await p.locator('#verdict').getAttribute('data-ok')).toBe('true');

    for (const id of ['chart-size', 'chart-duration', 'chart-rows']) {
      expect(await p.locator(`#${id} circle.pt`).count(), id).toBe(30);
      expect(await p.locator(`#${id} path.line`).count(), id).toBe(1);
    }
    // Points run left to right in time, and the rows chart ends at the newest backup's total.
    const xs = await p.locator('#chart-rows circle.pt').evaluateAll((cs) => cs.map((c) => Number(c.getAttribute('cx'))));
    expect(xs).toEqual([...xs].sort((a, b) => a - b));
    const lastRows = await p.locator('#chart-rows circle.pt').last().getAttribute('data-v');

    expect(await p.locator('#backups tbody tr').count()).toBe(31);
    expect(await p.locator('#backups tbody tr.incomplete').count()).toBe(1);
    expect(await p.locator('#backups tbody tr').first().locator('td').nth(5).textContent()).toBe(Number(lastRows).toLocaleString('en-US'));
    expect(await p.locator('#backups tbody tr').first().textContent()).toContain('drill passed');

    expect(await p.locator('#tables tbody tr').count()).toBe(3);
    expect(await p.locator('#tables tbody tr[data-table="users"]').getAttribute('class')).toBe('grew');
    expect(await p.locator('#card-drill').textContent()).toMatch(/PASS/);

    const shot = join(dirs.make(), 'status-page.png');
    await p.screenshot({ path: shot });
    expect(statSync(shot).size).toBeGreaterThan(20_000);
    if (process.env.UPDATE_SCREENSHOT === '1') writeFileSync(join(ROOT, 'docs', 'status-page.png'), readFileSync(shot));
    await p.close();
  });

  it('a stale store shows the problem', async () => {
    const { p, seen } = await open(stalePage);
    expect(seen.console).toEqual([]);
    expect(await p.locator('#verdict').getAttribute('data-ok')).toBe('false');
    expect(await p.locator('#verdict li').allTextContents()).toEqual([expect.stringMatching(/^STALE: the newest complete backup .* is 3 d 2 h old/)]);
    await p.close();
  });
});

describe('report --html naming a path it cannot write', () => {
  it('a folder, a file in a missing folder, a file under a file: one USAGE line, exit 2, the store untouched', async () => {
    const root = dirs.make();
    const notFolder = join(root, 'plain.txt');
    writeFileSync(notFolder, 'x');
    const cases: [string, RegExp][] = [
      [root, /--html names a folder .*: give the page's file name, e\.g\. .*status\.html/],
      [join(root, 'missing', 'status.html'), /--html .*status\.html: its folder .*missing does not exist/],
      [join(notFolder, 'status.html'), /--html .*status\.html: .*plain\.txt is a file, not a folder/],
    ];
    const before = readdirSync(store).sort();
    for (const [html, message] of cases) {
      const r = await runScript('backup-report', ['--dir', store, '--html', html], { BLOB_READ_WRITE_TOKEN: undefined });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/unexpected|\n\s+at /);
    }
    expect(readdirSync(root).sort()).toEqual(['plain.txt']);
    expect(readdirSync(store).sort()).toEqual(before);
  }, 60_000);
});
