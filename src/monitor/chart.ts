/**
 * Inline SVG line charts for the status page, generated here (no charting library): a time axis, a zero-based value
 * axis with three gridlines, a line, and one circle per point with a <title> tooltip (hover works without script).
 * Styling is by class only (the page's one hashed <style> block) and presentation attributes, never `style=""`,
 * so a strict Content-Security-Policy holds.
 */

export interface ChartPoint {
  /** Epoch ms. */
  t: number;
  v: number;
}

export interface ChartSpec {
  id: string;
  title: string;
  points: ChartPoint[];
  /** Formats a value for the axis and the tooltips. */
  fmt: (v: number) => string;
}

// Sized for three charts side by side on a laptop screen, so the text is drawn near its nominal size.
const W = 420;
const H = 180;
const M = { left: 64, right: 12, top: 12, bottom: 26 };

/** Escapes text for HTML and SVG content and attribute values. */
export const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;').replaceAll("'", '&#39;');

/** 1, 2 or 5 × 10^n at or above `v`: gridlines at round numbers. */
export function niceCeil(v: number): number {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

const day = (t: number) => new Date(t).toISOString().slice(0, 10);
const stamp = (t: number) => `${new Date(t).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
const r1 = (n: number) => Math.round(n * 10) / 10;

/** The chart as an <svg> string; an empty series draws a labelled empty frame. */
export function lineChart(spec: ChartSpec): string {
  const pts = [...spec.points].sort((a, b) => a.t - b.t);
  const iw = W - M.left - M.right;
  const ih = H - M.top - M.bottom;
  const t0 = pts[0]?.t ?? 0;
  const t1 = pts[pts.length - 1]?.t ?? 1;
  const top = niceCeil(Math.max(0, ...pts.map((p) => p.v)));
  const x = (t: number) => r1(M.left + (t1 === t0 ? iw / 2 : ((t - t0) / (t1 - t0)) * iw));
  const y = (v: number) => r1(M.top + ih - (v / top) * ih);
  const grid = [0, top / 2, top]
    .map(
      (g) =>
        `<line class="grid" x1="${M.left}" x2="${W - M.right}" y1="${y(g)}" y2="${y(g)}"/><text class="ylab" x="${M.left - 6}" y="${y(g) + 4}" text-anchor="end">${esc(spec.fmt(g))}</text>`,
    )
    .join('');
  const xlabs = pts.length
    ? `<text class="xlab" x="${x(t0)}" y="${H - 8}" text-anchor="${pts.length === 1 ? 'middle' : 'start'}">${day(t0)}</text>` +
      (pts.length > 1 ? `<text class="xlab" x="${x(t1)}" y="${H - 8}" text-anchor="end">${day(t1)}</text>` : '')
    : `<text class="xlab" x="${W / 2}" y="${H / 2}" text-anchor="middle">no data yet</text>`;
  const line = pts.length > 1 ? `<path class="line" d="${pts.map((p, i) => `${i ? 'L' : 'M'}${x(p.t)} ${y(p.v)}`).join(' ')}"/>` : '';
  const dots = pts
    .map(
      (p) =>
        `<circle class="pt" cx="${x(p.t)}" cy="${y(p.v)}" r="3.5" data-t="${new Date(p.t).toISOString()}" data-v="${p.v}"><title>${esc(`${stamp(p.t)}: ${spec.fmt(p.v)}`)}</title></circle>`,
    )
    .join('');
  return (
    `<svg id="${esc(spec.id)}" class="chart" viewBox="0 0 ${W} ${H}" role="img" aria-label="${esc(spec.title)}" xmlns="http://www.w3.org/2000/svg">` +
    `<title>${esc(spec.title)}</title>${grid}<line class="axis" x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${M.top + ih}"/>${xlabs}${line}${dots}</svg>`
  );
}
