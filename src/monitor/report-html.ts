/**
 * The status page as ONE self-contained HTML file: no script at all, no external font, stylesheet, image or request;
 * charts are inline SVG (chart.ts). The page carries its own Content-Security-Policy (`default-src 'none'`, the one
 * <style> block allowed by its sha256), so it opens offline and a browser refuses anything else it might contain.
 * The HTTP endpoint sends the same policy as a header (STATUS_CSP).
 */
import { createHash } from 'node:crypto';
import { fmtDuration } from './alert.js';
import { esc, lineChart } from './chart.js';
import type { TableChange } from './check.js';
import type { BackupRow, ReportModel } from './report.js';
import { fmtBytes } from '../units.js';

const CSS = `
:root{color-scheme:light;--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--mut:#57606a;--line:#0969da;--bg:#f6f8fa;--bd:#d0d7de}
*{box-sizing:border-box}
body{margin:0;padding:24px 32px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#1f2328;background:#fff}
h1{font-size:22px;margin:0 0 2px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:var(--mut);margin:0 0 16px}
.verdict{border:1px solid var(--bd);border-left-width:6px;border-radius:6px;padding:10px 14px;margin:0 0 16px}
.verdict.ok{border-left-color:var(--ok)}.verdict.bad{border-left-color:var(--bad);background:#fff5f5}
.verdict strong{font-size:15px}.verdict ul{margin:6px 0 0;padding-left:20px}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px}
.card{border:1px solid var(--bd);border-radius:6px;padding:10px 14px;background:var(--bg)}
.card .k{color:var(--mut);font-size:12px;text-transform:uppercase;letter-spacing:.04em}.card .v{font-size:18px;font-weight:600}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(360px,1fr));gap:12px}
figure{margin:0;border:1px solid var(--bd);border-radius:6px;padding:8px 10px}
figcaption{font-weight:600;margin-bottom:4px}
svg.chart{width:100%;height:auto;display:block}
.grid{stroke:#d8dee4;stroke-width:1}.axis{stroke:#8c959f;stroke-width:1}
.ylab,.xlab{fill:var(--mut);font-size:11px}
.line{fill:none;stroke:var(--line);stroke-width:2}.pt{fill:#fff;stroke:var(--line);stroke-width:2}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--bd);white-space:nowrap}
th{background:var(--bg);font-weight:600}td.n,th.n{text-align:right}
td.name{white-space:normal;word-break:break-all;font-family:ui-monospace,"DejaVu Sans Mono",monospace;font-size:12px}
tr.shrank td,tr.dropped td{background:#ffebe9}tr.grew td{background:#eafbee}tr.new td{background:#ddf4ff}
tr.incomplete td{color:var(--bad)}td.st{white-space:normal}
.pass{color:var(--ok);font-weight:600}.fail{color:var(--bad);font-weight:600}.muted{color:var(--mut)}
footer{margin-top:28px;color:var(--mut);font-size:12px}
`;

const STYLE_HASH = createHash('sha256').update(CSS, 'utf8').digest('base64');

/** The page's policy: nothing may load or run; only its own stylesheet, by hash. */
export const STATUS_CSP = `default-src 'none'; style-src 'sha256-${STYLE_HASH}'; img-src 'none'; base-uri 'none'; form-action 'none'`;

const bytes = fmtBytes;
const num = (n: number) => n.toLocaleString('en-US');
const when = (iso: string) => `${iso.slice(0, 16).replace('T', ' ')} UTC`;
const short = (name: string) => name.split('/').pop()!;

function verdictHtml(m: ReportModel): string {
  const problems = m.verdict.problems.map((p) => `<li><strong>${esc(p.code)}</strong>: ${esc(p.message)}</li>`).join('');
  return m.verdict.ok
    ? `<section id="verdict" class="verdict ok" data-ok="true"><strong>OK</strong>: ${esc(m.verdict.summary)}; no table lost rows.</section>`
    : `<section id="verdict" class="verdict bad" data-ok="false"><strong>${m.verdict.problems.length} problem(s)</strong>: ${esc(m.verdict.summary)}<ul>${problems}</ul></section>`;
}

function cardsHtml(m: ReportModel): string {
  const newest = m.backups.find((b) => b.name === m.newest);
  const complete = m.backups.filter((b) => b.complete).length;
  const d = m.lastDrill;
  const card = (id: string, k: string, v: string, sub: string) =>
    `<div class="card" id="${id}"><div class="k">${k}</div><div class="v">${v}</div><div class="muted">${sub}</div></div>`;
  return `<div class="cards">${[
    card(
      'card-newest',
      'Newest complete backup',
      newest ? esc(when(newest.createdAt)) : 'none',
      newest ? `${bytes(newest.bytes)}, ${num(newest.rows ?? 0)} rows, ${newest.tables ?? 0} tables` : '',
    ),
    card(
      'card-drill',
      'Last restore drill',
      d ? `<span class="${d.pass ? 'pass' : 'fail'}">${d.pass ? 'PASS' : 'FAIL'}</span> ${esc(when(d.drilledAt))}` : 'never',
      d ? esc(`${short(d.backup)}: ${num(d.rows)} rows in ${d.tables} tables, ${fmtDuration(d.durationMs)}`) : 'no drill recorded: run turso-backup drill',
    ),
    card('card-count', 'Backups in the store', `${complete} complete`, `${m.backups.length - complete} incomplete`),
  ].join('')}</div>`;
}

function chartsHtml(m: ReportModel): string {
  const series = m.backups.filter((b) => b.complete);
  const t = (b: BackupRow) => Date.parse(b.createdAt);
  const charts = [
    lineChart({ id: 'chart-size', title: 'Dump size', points: series.map((b) => ({ t: t(b), v: b.bytes })), fmt: bytes }),
    lineChart({
      id: 'chart-duration',
      title: 'Backup duration',
      points: series.filter((b) => b.durationMs !== null).map((b) => ({ t: t(b), v: b.durationMs! })),
      fmt: (v) => fmtDuration(v),
    }),
    lineChart({ id: 'chart-rows', title: 'Total rows', points: series.filter((b) => b.rows !== null).map((b) => ({ t: t(b), v: b.rows! })), fmt: num }),
  ];
  const names = ['Dump size', 'Duration', 'Total rows'];
  return `<div class="charts">${charts.map((c, i) => `<figure><figcaption>${names[i]}</figcaption>${c}</figure>`).join('')}</div>`;
}

function changeCell(c: TableChange): string {
  if (c.before === null || c.after === null) return c.status;
  const d = c.after - c.before;
  const pct = c.before > 0 ? ` (${d >= 0 ? '+' : ''}${((d / c.before) * 100).toFixed(1)}%)` : '';
  return d === 0 ? '—' : `${d > 0 ? '+' : ''}${num(d)}${pct}`;
}

function tablesHtml(m: ReportModel): string {
  if (!m.newest) return '<p class="muted">No complete backup yet.</p>';
  const rows = m.changes
    .map(
      (c) =>
        `<tr class="${c.status}" data-table="${esc(c.table)}"><td>${esc(c.table)}</td><td class="n">${c.before === null ? '—' : num(c.before)}</td><td class="n">${c.after === null ? '—' : num(c.after)}</td><td class="n">${changeCell(c)}</td><td>${c.status}</td></tr>`,
    )
    .join('');
  const against = m.previous ? `against the previous backup ${esc(short(m.previous))}` : 'no previous backup to compare with';
  return (
    `<p class="muted">${esc(short(m.newest))} ${against}; a table below ${m.minRowsRatio} of its previous rows is a problem.</p>` +
    `<table id="tables"><thead><tr><th>table</th><th class="n">previous</th><th class="n">newest</th><th class="n">change</th><th>status</th></tr></thead><tbody>${rows}</tbody></table>`
  );
}

function backupRowHtml(b: BackupRow): string {
  const status = b.complete ? `complete${b.encrypted ? ', encrypted' : ''}` : `INCOMPLETE: ${esc(b.problem ?? '')}`;
  const verified = b.drill
    ? `<span class="${b.drill.pass ? 'pass' : 'fail'}">${b.drill.pass ? 'drill passed' : 'drill FAILED'}</span> ${esc(b.drill.at.slice(0, 10))}`
    : '<span class="muted">—</span>';
  return (
    `<tr class="${b.complete ? 'complete' : 'incomplete'}"><td>${esc(when(b.createdAt))}</td><td class="name">${esc(short(b.name))}</td><td class="n">${bytes(b.bytes)}</td>` +
    `<td class="n">${b.durationMs === null ? '—' : fmtDuration(b.durationMs)}</td><td class="n">${b.tables ?? '—'}</td><td class="n">${b.rows === null ? '—' : num(b.rows)}</td><td class="st">${status}</td><td>${verified}</td></tr>`
  );
}

/** The whole page. Every value from the store is escaped; nothing in it is a row of the database. */
export function renderReportHtml(m: ReportModel): string {
  const title = `Backups${m.database ? ` of ${m.database}` : ''}`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${STATUS_CSP}">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="referrer" content="no-referrer">
<title>${esc(title)}</title>
<style>${CSS}</style></head>
<body>
<h1>${esc(title)}</h1>
<p class="sub">${esc(m.store)} · generated ${esc(when(m.generatedAt))}</p>
${verdictHtml(m)}
${cardsHtml(m)}
<h2>Over time</h2>
${chartsHtml(m)}
<h2>Rows per table: newest vs previous</h2>
${tablesHtml(m)}
<h2>Backups (${m.backups.length})</h2>
<table id="backups"><thead><tr><th>created</th><th>dump</th><th class="n">size</th><th class="n">duration</th><th class="n">tables</th><th class="n">rows</th><th>status</th><th>verified</th></tr></thead>
<tbody>${m.backups.map(backupRowHtml).join('')}</tbody></table>
<footer>${esc(m.tool)} · a static page: no scripts, no external requests · durations appear for backups made since run summaries were recorded</footer>
</body></html>
`;
}
