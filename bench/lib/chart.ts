/**
 * The latency-against-throughput chart for docs/performance.md, as hand-written SVG: one
 * line per series (p50 solid, p99 dashed), throughput on x, latency on a log scale on y.
 */
export interface Series {
  label: string;
  color: string;
  /** [throughput per s, p50 ms, p99 ms] */
  points: [number, number, number][];
}

const W = 760;
const H = 440;
const M = { left: 70, right: 20, top: 40, bottom: 60 };

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function latencyChart(title: string, series: Series[]): string {
  const all = series.flatMap((s) => s.points);
  const maxX = Math.max(1, ...all.map((p) => p[0])) * 1.05;
  const ys = all.flatMap((p) => [p[1], p[2]]).filter((v) => v > 0);
  const minY = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...ys, 1))));
  const maxY = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const x = (v: number): number => M.left + (v / maxX) * (W - M.left - M.right);
  const y = (v: number): number => {
    const t = (Math.log10(Math.max(v, minY)) - Math.log10(minY)) / (Math.log10(maxY) - Math.log10(minY));
    return H - M.bottom - t * (H - M.top - M.bottom);
  };
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15">${esc(title)}</text>`);
  // Grid and axes.
  for (let v = minY; v <= maxY * 1.001; v *= 10) {
    out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${M.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${v >= 1 ? v.toFixed(0) : v.toString()}</text>`);
  }
  const step = 10 ** Math.floor(Math.log10(maxX / 2)) * (maxX / 10 ** Math.floor(Math.log10(maxX)) > 5 ? 2 : 1);
  for (let v = 0; v <= maxX; v += step) {
    out.push(`<line x1="${x(v).toFixed(1)}" x2="${x(v).toFixed(1)}" y1="${M.top}" y2="${H - M.bottom}" stroke="#eee"/>`);
    out.push(`<text x="${x(v).toFixed(1)}" y="${H - M.bottom + 18}" text-anchor="middle">${v}</text>`);
  }
  out.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${H - M.bottom}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<line x1="${M.left}" x2="${M.left}" y1="${M.top}" y2="${H - M.bottom}" stroke="#333"/>`);
  out.push(`<text x="${(M.left + W - M.right) / 2}" y="${H - 18}" text-anchor="middle">round trips per second</text>`);
  out.push(`<text transform="translate(18 ${(M.top + H - M.bottom) / 2}) rotate(-90)" text-anchor="middle">latency, ms (log scale)</text>`);
  // Series.
  let legendY = M.top + 8;
  for (const s of series) {
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    for (const [i, dash] of [[1, ''], [2, ' stroke-dasharray="6 4"']] as const) {
      const path = pts.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p[0]).toFixed(1)},${y(p[i]).toFixed(1)}`).join(' ');
      out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
      for (const p of pts) out.push(`<circle cx="${x(p[0]).toFixed(1)}" cy="${y(p[i]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    }
    out.push(`<line x1="${W - M.right - 250}" x2="${W - M.right - 225}" y1="${legendY}" y2="${legendY}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${W - M.right - 220}" y="${legendY + 4}">${esc(s.label)} p50 (solid), p99 (dashed)</text>`);
    legendY += 18;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
