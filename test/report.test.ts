// The benchmark HTML report (bench/report.js), rendered from a small canned results file
// (test/fixtures/bench-results.json: a --quick run's --json output, numbers rounded), not from a
// bench run: every suite is present, provenance is at the top, one chart per kernel family, no
// legend entry for a peer that is not installed, nothing outside the file; and in Chromium (Debian's
// chromium, driven by playwright-core) no two labels of a chart overlap and nothing is clipped.
// The screenshot goes to $LOWBIT_ARTIFACTS (default artifacts/ in the checkout).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const repo = path.join(__dirname, '..', '..');
const bench = path.join(repo, 'bench');
/* eslint-disable @typescript-eslint/no-require-imports */
interface Suite { name: string; format(rows: unknown[]): string }
interface Results { peers: Record<string, { label: string; version?: string }>; suites: Record<string, Record<string, unknown>[]> }
const { render } = require(path.join(bench, 'report.js')) as { render(r: Results, s: Suite[]): string };
const { loadSuites } = require(path.join(bench, 'index.js')) as { loadSuites(): Suite[] };
const fixture = fs.readFileSync(path.join(repo, 'test', 'fixtures', 'bench-results.json'), 'utf8');
/* eslint-enable @typescript-eslint/no-require-imports */

const suites = loadSuites();
const results = (): Results => JSON.parse(fixture) as Results;

// The same results as if onnxruntime-node and PyTorch were not installed: no versions, and no
// figure or timing of theirs in any row.
function withoutPeers(): Results {
  const r = results();
  for (const p of Object.values(r.peers)) delete p.version;
  const peerKey = (k: string) => /^(ort|torch)/.test(k);
  for (const rows of Object.values(r.suites)) {
    for (const row of rows) {
      for (const k of Object.keys(row)) if (peerKey(k)) delete row[k];
      const t = row.timing as Record<string, unknown> | undefined;
      if (t) for (const k of Object.keys(t)) if (peerKey(k)) delete t[k];
    }
  }
  return r;
}

const svgs = (html: string) => html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];

describe('benchmark HTML report', () => {
  const html = render(results(), suites);

  test('every suite of the results has its section, and the summary comes first', () => {
    const ids = [...html.matchAll(/<section id="([^"]+)"/g)].map((m) => m[1]);
    expect(ids[0]).toBe('summary');
    for (const name of Object.keys(results().suites)) expect(ids).toContain(name);
    expect(ids).toContain('embedding-options');
  });

  test('provenance at the top: version, commit, date, CPU, ISA, Node, peers with versions', () => {
    const top = html.slice(0, html.indexOf('<section'));
    for (const s of ['0.1.0', '0123456789ab', '2026-12-03T08:45', 'AMD EPYC', 'in use: avx2', 'v20', 'onnxruntime-node', '1.30.0 (measured now)', 'PyTorch', '2.13.0']) {
      expect(top).toContain(s);
    }
  });

  test('one chart per kernel family in the summary, lowbit against the peers measured', () => {
    const summary = html.slice(html.indexOf('<section id="summary"'), html.indexOf('</section>'));
    const titles = svgs(summary).map((s) => /aria-label="([^"]+)"/.exec(s)![1]);
    expect(titles).toEqual(expect.arrayContaining([expect.stringMatching(/^int8 GEMM, u8 out: lowbit against ort, torch/),
      expect.stringMatching(/^int8 conv, u8 out: lowbit against ort/), expect.stringMatching(/^embedding options/)]));
    expect(new Set(titles).size).toBe(titles.length);
  });

  test('no figure from outside the run: no FBGEMM or ANCHORS bars', () => {
    expect(html).not.toMatch(/ANCHORS|FBGEMM\*/);
  });

  test('a peer that is not installed has no legend entry and is said to be missing', () => {
    const bare = render(withoutPeers(), suites);
    for (const svg of svgs(bare)) {
      const legend = [...svg.matchAll(/<text class="legend"[^>]*>([^<]*)</g)].map((m) => m[1]);
      expect(legend.join('|')).not.toMatch(/onnxruntime|ort |PyTorch|torch/);
    }
    expect(bare).toMatch(/onnxruntime-node<\/td><td>not installed/);
  });

  test('self-contained: no script, nothing fetched', () => {
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(html).not.toMatch(/<script/);
  });

  const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((c) => fs.existsSync(c));
  // CI installs Debian's chromium (.ci/run); elsewhere the browser check needs it installed.
  const inBrowser = chromium || process.env.CI ? test : test.skip;
  inBrowser('in Chromium: no two labels of a chart overlap, nothing is clipped; screenshot', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { chromium: pw } = require('playwright-core') as typeof import('playwright-core');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-report-'));
    const browser = await pw.launch({ executablePath: chromium, args: ['--no-sandbox', '--disable-gpu'] });
    try {
      for (const [name, page] of [['report', html], ['report-no-peers', render(withoutPeers(), suites)]]) {
        const file = path.join(dir, name + '.html');
        fs.writeFileSync(file, page);
        const tab = await browser.newPage({ viewport: { width: 1100, height: 900 } });
        await tab.goto('file://' + file);
        const problems = await tab.evaluate(() => {
          const out: string[] = [];
          const pageWidth = document.documentElement.clientWidth;
          document.querySelectorAll('svg').forEach((svg, i) => {
            const box = svg.getBoundingClientRect();
            const name = `chart ${i} "${svg.getAttribute('aria-label')}"`;
            if (box.right > pageWidth + 0.5) out.push(`${name} is wider than the page`);
            const texts = [...svg.querySelectorAll('text')].map((t) => ({ t: t.textContent ?? '', r: t.getBoundingClientRect() }));
            for (const el of svg.querySelectorAll('text, rect, line, circle, polyline')) {
              const r = el.getBoundingClientRect();
              if (r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5) {
                out.push(`${name}: <${el.tagName}> "${el.textContent}" is clipped`);
              }
            }
            for (let a = 0; a < texts.length; a++) {
              for (let b = a + 1; b < texts.length; b++) {
                const p = texts[a].r;
                const q = texts[b].r;
                if (p.left < q.right - 0.5 && q.left < p.right - 0.5 && p.top < q.bottom - 0.5 && q.top < p.bottom - 0.5) {
                  out.push(`${name}: "${texts[a].t}" overlaps "${texts[b].t}"`);
                }
              }
            }
          });
          return out;
        });
        expect(problems).toEqual([]);
        const shots = process.env.LOWBIT_ARTIFACTS ?? path.join(repo, 'artifacts');
        fs.mkdirSync(shots, { recursive: true });
        const png = await tab.screenshot({ path: path.join(shots, name + '.png'), fullPage: true });
        expect(png.length).toBeGreaterThan(30000); // charts and tables drawn, not a blank page
        await tab.close();
      }
    } finally {
      await browser.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
