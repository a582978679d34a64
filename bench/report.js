// Writes the benchmark results as a self-contained HTML report with inline SVG charts (no scripts,
// no network: it opens from disk anywhere).
'use strict';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v) {
  if (v >= 100) return v.toFixed(0);
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/**
 * Grouped bar chart. categories: x labels; series: [{ name, values: number[] }]; lines: horizontal
 * reference lines [{ y, label }] (e.g. the measured peak).
 */
function barChart({ title, yLabel, categories, series, lines = [], width = 960, height = 360 }) {
  const m = { l: 60, r: 20, t: 40, b: 110 };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.values.filter(Number.isFinite)), ...lines.map((l) => l.y)));
  const y = (v) => m.t + h - (v / ymax) * h;
  const groupW = w / Math.max(1, categories.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`];
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`);
  }
  out.push(`<text transform="translate(14 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  categories.forEach((c, ci) => {
    const x0 = m.l + ci * groupW + groupW * 0.1;
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return;
      out.push(`<rect x="${x0 + si * barW}" y="${y(v)}" width="${Math.max(1, barW - 1)}" height="${m.t + h - y(v)}" fill="${COLORS[si % COLORS.length]}"><title>${esc(s.name)} ${esc(c)}: ${fmt(v)}</title></rect>`);
    });
    const cx = m.l + ci * groupW + groupW / 2;
    out.push(`<text transform="translate(${cx} ${m.t + h + 10}) rotate(45)" font-size="10">${esc(c)}</text>`);
  });
  for (const l of lines) {
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(l.y)}" y2="${y(l.y)}" stroke="#000" stroke-dasharray="6 4"/>`);
    out.push(`<text x="${m.l + w - 4}" y="${y(l.y) - 4}" text-anchor="end" font-size="11">${esc(l.label)}</text>`);
  }
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + h}" stroke="#000"/><line x1="${m.l}" x2="${m.l + w}" y1="${m.t + h}" y2="${m.t + h}" stroke="#000"/>`);
  series.forEach((s, si) => {
    const lx = m.l + 10 + si * 170;
    out.push(`<rect x="${lx}" y="${height - 18}" width="12" height="12" fill="${COLORS[si % COLORS.length]}"/><text x="${lx + 16}" y="${height - 8}" font-size="11">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n');
}

/** Line chart of series [{ name, points: [[x, y]] }], optional log2 x axis. */
function lineChart({ title, xLabel, yLabel, series, lines = [], logX = false, width = 720, height = 380 }) {
  const perRow = 3;
  const m = { l: 60, r: 40, t: 40, b: 56 + 14 * Math.ceil(series.length / perRow) };
  const w = width - m.l - m.r;
  const h = height - m.t - m.b;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const tx = (v) => (logX ? Math.log2(v) : v);
  const xmin = Math.min(...xs.map(tx));
  const xmax = Math.max(...xs.map(tx));
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.points.map((p) => p[1]).filter(Number.isFinite)), ...lines.map((l) => l.y)));
  const x = (v) => m.l + (xmax === xmin ? w / 2 : ((tx(v) - xmin) / (xmax - xmin)) * w);
  const y = (v) => m.t + h - (v / ymax) * h;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`];
  out.push(`<text x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/><text x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`);
  }
  for (const v of [...new Set(xs)].sort((a, b) => a - b)) {
    out.push(`<text x="${x(v)}" y="${m.t + h + 16}" text-anchor="middle" font-size="11">${esc(v)}</text>`);
  }
  out.push(`<text x="${m.l + w / 2}" y="${m.t + h + 34}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  for (const l of lines) {
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(l.y)}" y2="${y(l.y)}" stroke="#000" stroke-dasharray="6 4"/><text x="${m.l + w - 4}" y="${y(l.y) - 4}" text-anchor="end" font-size="11">${esc(l.label)}</text>`);
  }
  series.forEach((s, si) => {
    const c = COLORS[si % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${x(p[0])},${y(p[1])}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p[0])}" cy="${y(p[1])}" r="3" fill="${c}"><title>${esc(s.name)} ${esc(p[0])}: ${fmt(p[1])}</title></circle>`);
    const lx = m.l + 10 + (si % perRow) * 200;
    const ly = m.t + h + 52 + Math.floor(si / perRow) * 14;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="3" fill="${c}"/><text x="${lx + 16}" y="${ly}" font-size="11">${esc(s.name)}</text>`);
  });
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${m.t + h}" stroke="#000"/><line x1="${m.l}" x2="${m.l + w}" y1="${m.t + h}" y2="${m.t + h}" stroke="#000"/>`);
  out.push('</svg>');
  return out.join('\n');
}

/** An HTML table from a header and rows of cells. */
function htmlTable(header, rows) {
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** The whole page: a header with the machine, then one section per suite ({ title, html }). */
function page({ title, machine, sections }) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
section { margin-bottom: 32px; }
.machine { color: #555; }
svg { display: block; margin: 8px 0; }
</style></head><body>
<h1>${esc(title)}</h1>
<p class="machine">${esc(machine)}</p>
${sections.map((s) => `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>\n${s.html}</section>`).join('\n')}
</body></html>
`;
}

module.exports = { barChart, lineChart, htmlTable, page };
