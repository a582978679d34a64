// Writes the benchmark results as a self-contained HTML report with inline SVG charts (no scripts,
// no network: it opens from disk anywhere). render(results, suites) builds the page from what
// bench/index.js measured (or from its --json file): provenance first, the summary with one chart
// per kernel family (lowbit against each peer measured in the run), then every suite.
//
// Charts are laid out so that no two labels can overlap and nothing is clipped (test/report.test.ts
// checks it in Chromium): categories go on the vertical axis of horizontal bar charts (one band per
// category, labels horizontal), tick labels of line charts are thinned to the room they have, and
// legends wrap by their text's width. Text widths are estimated on the wide side (FONT_EM).
'use strict';
const { summarize } = require('./summary');

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf', '#7f7f7f', '#bcbd22'];
const FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';
// An upper bound of the advance of a character, in em, for the fonts above (DejaVu Sans: digits
// 0.64 em, most letters less; capitals up to 0.8 but rare in labels).
const FONT_EM = 0.68;

function esc(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
}

/** Estimated width in px of `text` at `size` px (on the wide side). */
function textWidth(text, size) {
  return String(text).length * size * FONT_EM;
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

// A series with no finite positive value (a peer not installed) gets no bar and no legend entry.
const hasData = (values) => values.some((v) => Number.isFinite(v) && v > 0);

/**
 * Legend entries [{ name, color, dashed? }] laid out in rows that fit `width` from x = `x0`.
 * Returns { svg, height }.
 */
function legend(entries, x0, y0, width) {
  const out = [];
  let x = x0;
  let y = y0;
  for (const e of entries) {
    const w = 18 + textWidth(e.name, 11) + 16;
    if (x > x0 && x + w > x0 + width) {
      x = x0;
      y += 16;
    }
    const mark = e.dashed
      ? `<line x1="${x}" x2="${x + 12}" y1="${y + 6}" y2="${y + 6}" stroke="${e.color}" stroke-width="2" stroke-dasharray="4 2"/>`
      : `<rect x="${x}" y="${y}" width="12" height="12" fill="${e.color}"/>`;
    out.push(`${mark}<text class="legend" x="${x + 16}" y="${y + 10}" font-size="11">${esc(e.name)}</text>`);
    x += w;
  }
  return { svg: out.join('\n'), height: entries.length ? y - y0 + 16 : 0 };
}

function svgOpen(width, height, title) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `font-family="${FONT}" role="img" aria-label="${esc(title)}">`;
}

/**
 * Grouped bar chart, horizontal: one band per category (labels on the left), one bar per series.
 * categories: labels; series: [{ name, values: number[], low?: number[], high?: number[] }] (low /
 * high: a whisker, e.g. the spread of the rounds); lines: reference values [{ y, label }] drawn as
 * dashed vertical lines, named in the legend. yLabel names the value axis.
 */
function barChart({ title, yLabel, categories, series, lines = [], width = 960 }) {
  series = series.filter((s) => hasData(s.values));
  const barH = 12;
  const bandH = Math.max(16, series.length * barH + 8);
  const labelW = Math.min(360, Math.max(40, ...categories.map((c) => textWidth(c, 11)))) + 12;
  const m = { l: labelW, r: 30, t: 36 };
  const w = width - m.l - m.r;
  const entries = [...series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length] })),
    ...lines.map((l) => ({ name: l.label, color: '#000', dashed: true }))];
  const lg = legend(entries, 10, 0, width - 20);
  const h = categories.length * bandH;
  const axisY = m.t + h;
  const height = axisY + 40 + lg.height + 8;
  const vmax = niceMax(Math.max(...series.flatMap((s) => [...s.values, ...(s.high || [])].filter(Number.isFinite)), ...lines.map((l) => l.y)));
  const x = (v) => m.l + (Math.max(0, v) / vmax) * w;
  const out = [svgOpen(width, height, title)];
  out.push(`<text class="title" x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (vmax * i) / 5;
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${m.t}" y2="${axisY}" stroke="#ddd"/>`);
    out.push(`<text class="tick" x="${x(v)}" y="${axisY + 15}" text-anchor="middle" font-size="11">${fmt(v)}</text>`);
  }
  out.push(`<text class="axis" x="${m.l + w / 2}" y="${axisY + 32}" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  categories.forEach((c, ci) => {
    const y0 = m.t + ci * bandH + (bandH - series.length * barH) / 2;
    series.forEach((s, si) => {
      const v = s.values[ci];
      if (!Number.isFinite(v)) return;
      const y = y0 + si * barH;
      out.push(`<rect x="${m.l}" y="${y}" width="${Math.max(1, x(v) - m.l)}" height="${barH - 2}" fill="${COLORS[si % COLORS.length]}">` +
        `<title>${esc(s.name)}, ${esc(c)}: ${fmt(v)}</title></rect>`);
      if (s.low && s.high && Number.isFinite(s.low[ci]) && Number.isFinite(s.high[ci])) {
        const yc = y + (barH - 2) / 2;
        out.push(`<line x1="${x(s.low[ci])}" x2="${x(s.high[ci])}" y1="${yc}" y2="${yc}" stroke="#000"/>` +
          `<line x1="${x(s.low[ci])}" x2="${x(s.low[ci])}" y1="${yc - 3}" y2="${yc + 3}" stroke="#000"/>` +
          `<line x1="${x(s.high[ci])}" x2="${x(s.high[ci])}" y1="${yc - 3}" y2="${yc + 3}" stroke="#000"/>`);
      }
    });
    out.push(`<text class="tick" x="${m.l - 8}" y="${m.t + ci * bandH + bandH / 2 + 4}" text-anchor="end" font-size="11">${esc(c)}</text>`);
  });
  for (const l of lines) out.push(`<line x1="${x(l.y)}" x2="${x(l.y)}" y1="${m.t - 4}" y2="${axisY}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${axisY}" stroke="#000"/><line x1="${m.l}" x2="${m.l + w}" y1="${axisY}" y2="${axisY}" stroke="#000"/>`);
  out.push(`<g transform="translate(0 ${axisY + 44})">${lg.svg}</g>`);
  out.push('</svg>');
  return out.join('\n');
}

/**
 * Line chart of series [{ name, points: [[x, y]] }], optional log2 x axis; lines: horizontal
 * reference values [{ y, label }] (dashed, named in the legend). x tick labels that would touch
 * the previous one are left out (the points keep their values in their tooltips).
 */
function lineChart({ title, xLabel, yLabel, series, lines = [], logX = false, width = 760 }) {
  series = series.filter((s) => hasData(s.points.map((p) => p[1])));
  const m = { l: 64, r: 40, t: 40 };
  const h = 240;
  const w = width - m.l - m.r;
  const entries = [...series.map((s, i) => ({ name: s.name, color: COLORS[i % COLORS.length] })),
    ...lines.map((l) => ({ name: l.label, color: '#000', dashed: true }))];
  const lg = legend(entries, 10, 0, width - 20);
  const axisY = m.t + h;
  const height = axisY + 48 + lg.height + 8;
  const xs = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  const tx = (v) => (logX ? Math.log2(v) : v);
  const xmin = Math.min(...xs.map(tx));
  const xmax = Math.max(...xs.map(tx));
  const ymax = niceMax(Math.max(...series.flatMap((s) => s.points.map((p) => p[1]).filter(Number.isFinite)), ...lines.map((l) => l.y)));
  const x = (v) => m.l + (xmax === xmin ? w / 2 : ((tx(v) - xmin) / (xmax - xmin)) * w);
  const y = (v) => m.t + h - (v / ymax) * h;
  const out = [svgOpen(width, height, title)];
  out.push(`<text class="title" x="${width / 2}" y="20" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i <= 5; i++) {
    const v = (ymax * i) / 5;
    out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>` +
      `<text class="tick" x="${m.l - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${fmt(v)}</text>`);
  }
  let lastRight = -Infinity;
  for (const v of xs) {
    const half = textWidth(v, 11) / 2;
    if (x(v) - half < lastRight + 6) continue;
    lastRight = x(v) + half;
    out.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${axisY}" y2="${axisY + 4}" stroke="#000"/>` +
      `<text class="tick" x="${x(v)}" y="${axisY + 20}" text-anchor="middle" font-size="11">${esc(v)}</text>`);
  }
  out.push(`<text class="axis" x="${m.l + w / 2}" y="${axisY + 38}" text-anchor="middle" font-size="12">${esc(xLabel)}</text>`);
  out.push(`<text class="axis" transform="translate(16 ${m.t + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`);
  for (const l of lines) out.push(`<line x1="${m.l}" x2="${m.l + w}" y1="${y(l.y)}" y2="${y(l.y)}" stroke="#000" stroke-width="1.5" stroke-dasharray="6 4"/>`);
  series.forEach((s, si) => {
    const c = COLORS[si % COLORS.length];
    const pts = s.points.filter((p) => Number.isFinite(p[1]));
    out.push(`<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map((p) => `${x(p[0])},${y(p[1])}`).join(' ')}"/>`);
    for (const p of pts) out.push(`<circle cx="${x(p[0])}" cy="${y(p[1])}" r="3" fill="${c}"><title>${esc(s.name)} ${esc(p[0])}: ${fmt(p[1])}</title></circle>`);
  });
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${axisY}" stroke="#000"/><line x1="${m.l}" x2="${m.l + w}" y1="${axisY}" y2="${axisY}" stroke="#000"/>`);
  out.push(`<g transform="translate(0 ${axisY + 48})">${lg.svg}</g>`);
  out.push('</svg>');
  return out.join('\n');
}

/** An HTML table from a header and rows of cells. */
function htmlTable(header, rows) {
  return `<table><thead><tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${esc(c ?? '-')}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

const CSS = `body { font-family: ${FONT}; margin: 24px; color: #222; max-width: 1000px; }
table { border-collapse: collapse; margin: 8px 0 24px; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
table.provenance td { text-align: left; }
section { margin-bottom: 32px; }
pre { font-size: 12px; background: #f6f6f6; padding: 8px; overflow-x: auto; }
svg { display: block; margin: 8px 0; }`;

/** The page from a header paragraph (html) and sections [{ id, title, html }]. */
function page({ title, machine, header, sections }) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
${CSS}
</style></head><body>
<h1>${esc(title)}</h1>
${header ?? `<p class="machine">${esc(machine ?? '')}</p>`}
${sections.map((s) => `<section id="${esc(s.id)}"><h2>${esc(s.title)}</h2>\n${s.html}</section>`).join('\n')}
</body></html>
`;
}

/** Where the figures come from: version, commit, date, CPU, ISA, Node, peers. */
function provenance(results) {
  const c = results.cpu || {};
  const peers = Object.values(results.peers || {}).map((p) => [p.label, !p.version ? `not installed (${p.install})`
    : `${p.version} ${p.measured === false ? '(installed; not used by these suites)' : '(measured now)'}`]);
  return htmlTable(['', ''], [
    ['lowbit', `${results.lowbit} (commit ${results.commit})`],
    ['date', results.date],
    ['CPU', `${c.model}, ${c.cores} cores, ${c.arch}`],
    ['ISA', `in use: ${c.isa} (supported: ${(c.supported || []).join(', ')})`],
    ['Node', `${results.node} (${results.platform})`],
    ['run', `${results.mode} mode, threads ${results.threads}, ${results.pinned}`],
    ...peers,
  ]).replace('<table>', '<table class="provenance">').replace(/<thead>.*?<\/thead>/, '');
}

/** The summary: its table, then one chart per kernel family (every pair of the family, per case). */
function summarySection(lines) {
  const ok = lines.filter((l) => !l.missing);
  const x = (v) => (v >= 10 ? v.toFixed(1) : v.toFixed(2)) + 'x';
  let html = '<p>Speed: how many times faster lowbit is than what it is measured against, both measured in this run, ' +
    'in turn in each round; the bar is the geometric mean over the cases of each case\'s median ratio, the whisker ' +
    'the lowest and highest round. The dashed line is 1x (as fast).</p>' +
    htmlTable(['kernel family', 'lowbit', 'against', 'speed', 'range', 'cases x rounds'],
      lines.map((l) => (l.missing ? [l.family, '', l.vs, l.missing, '', ''] : [l.family, l.lowbit, l.vs, x(l.ratio), `${x(l.min)}..${x(l.max)}`, `${l.cases}x${l.rounds}`])));
  for (const family of [...new Set(ok.map((l) => l.family))]) {
    const ls = ok.filter((l) => l.family === family);
    const cases = [...new Set(ls.flatMap((l) => l.perCase.map((c) => c.case)))];
    const pick = (l, k) => cases.map((c) => (l.perCase.find((p) => p.case === c) || {})[k]);
    html += barChart({
      title: `${family}: lowbit against ${[...new Set(ls.map((l) => (l.peer ? l.vs.split(' ')[0] : 'its baselines')))].join(', ')}`,
      yLabel: 'speed (times faster than the other side), median and range of the rounds',
      categories: cases,
      series: ls.map((l) => ({ name: `lowbit ${l.lowbit} vs ${l.vs}`, values: pick(l, 'median'), low: pick(l, 'min'), high: pick(l, 'max') })),
      lines: [{ y: 1, label: '1x: as fast' }],
    });
  }
  return { id: 'summary', title: 'Summary: lowbit against the peers and its own baselines, measured now', html };
}

/**
 * The whole report from bench/index.js's results (or its --json file) and the suite modules that
 * produced them: a suite without a report() gets its text tables.
 */
function render(results, suites) {
  const lines = results.summary ?? summarize(suites, results);
  const sections = [summarySection(lines)];
  for (const suite of suites) {
    const rows = results.suites[suite.name];
    if (!rows) continue;
    const s = suite.report ? suite.report(rows, results) : { id: suite.name, title: suite.title || suite.name, html: '' };
    const text = suite.report ? '' : `<pre>${esc(suite.format(rows))}</pre>`;
    sections.push({ id: s.id || suite.name, title: s.title, html: s.html + text });
  }
  return page({ title: 'lowbit benchmarks', header: provenance(results), sections });
}

module.exports = { barChart, lineChart, htmlTable, page, render, textWidth };
