// The benchmark report: built from each suite's rows, self-contained (no network), and it renders
// in headless Chromium (Debian's chromium package; CI installs it; skipped where it is absent).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const bench = path.join(__dirname, '..', '..', 'bench');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const load = (name: string) => require(path.join(bench, name)) as { report: (rows: unknown[]) => { id: string; title: string; html: string } };

const rows: Record<string, unknown[]> = {
  quantize: [4096, 1 << 20].flatMap((n) => ['quantize', 'dequantize'].map((op) => ({ op, n, isa: 'avx2', gbs: 30, scalarGbs: 2, jsGbs: 0.4, vsJs: 75, vsScalar: 15 }))),
  gemm: [{ shape: '1x1024x1024', exact: 80, fast: 100, ort_u8u8: 47 }, { shape: '64x1024x1024', exact: 128, fast: 175, ort_u8u8: 135, fbgemm: 160 }],
  embedding: [32, 64, 128].map((dim) => ({ format: 'q8', dim, rowBytes: dim + 8, rows: 1e6, cold: 50, warm: 120, stream: 40, stream2: 70, streamGBs: (40 * (dim + 8)) / 1e3 })),
  'sparse-conv': [0.8, 0.9].map((sparsity) => ({ layer: 'alexnet conv3', sparsity, dense: 85, sparse: 150, auto: 150, speedup: 1.8, autoVsBest: 1, autoChoice: 'sparse' })),
};

function chromium(): string | null {
  for (const c of ['/usr/bin/chromium', '/usr/bin/chromium-browser']) if (fs.existsSync(c)) return c;
  return null;
}

describe('benchmark HTML report', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-report-'));
  const file = path.join(dir, 'report.html');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { page } = require(path.join(bench, 'report.js')) as { page: (p: { title: string; machine: string; sections: unknown[] }) => string };
  const sections = Object.keys(rows).map((name) => load(name === 'sparse-conv' ? 'sparse-conv.js' : `${name}.js`).report(rows[name]));
  const html = page({ title: 'lowbit benchmarks', machine: 'test machine', sections });
  fs.writeFileSync(file, html);
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('has one chart per suite and references nothing outside the file', () => {
    expect((html.match(/<svg /g) ?? []).length).toBe(4);
    expect(html).not.toMatch(/(src|href)=["']?(https?:)?\/\//);
    expect(html).not.toMatch(/<script/);
  });

  const bin = chromium();
  (bin ? test : test.skip)('renders in headless Chromium', () => {
    const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', `--user-data-dir=${path.join(dir, 'profile')}`];
    const dom = spawnSync(bin!, [...flags, '--dump-dom', `file://${file}`], { encoding: 'utf8', timeout: 60000 });
    expect(dom.stdout).toMatch(/Sparse convolution: speedup over lowbit dense fp32/);
    expect((dom.stdout.match(/<svg /g) ?? []).length).toBe(4);
    const png = path.join(dir, 'shot.png');
    spawnSync(bin!, [...flags, `--screenshot=${png}`, '--window-size=1000,3000', `file://${file}`], { timeout: 60000 });
    const bytes = fs.readFileSync(png);
    expect(bytes.subarray(1, 4).toString()).toBe('PNG');
    expect(bytes.length).toBeGreaterThan(30000); // charts and tables drawn, not a blank page
  });
});
