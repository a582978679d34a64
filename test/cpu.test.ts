import { execFileSync, spawnSync } from 'node:child_process';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode } from './helpers';

const root = path.join(__dirname, '..', '..');

function runWithIsa(isa: string, code: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, ['-e', code], {
    cwd: root,
    env: { ...process.env, LOWBIT_ISA: isa },
    encoding: 'utf8',
  });
}

describe('cpu()', () => {
  const info = lowbit.cpu();

  test('describes the architecture, features and levels', () => {
    expect(['x64', 'arm64', 'other']).toContain(info.arch);
    expect(info.supported[0]).toBe('scalar');
    expect(info.supported).toContain(info.isa);
    for (const isa of info.supported) expect(info.compiled).toContain(isa);
    expect(info.kernels.quantize).toBeDefined();
  });

  test('picks the best supported level by default', () => {
    if (process.env.LOWBIT_ISA) return;
    expect(info.isa).toBe(info.supported[info.supported.length - 1]);
  });

  test('reports avx2 on an x64 CPU with AVX2, FMA and F16C', () => {
    if (info.arch !== 'x64') return;
    const f = info.features;
    expect(info.supported.includes('avx2')).toBe(Boolean(f.avx2 && f.fma && f.f16c));
    expect(info.supported.includes('avx512')).toBe(Boolean(f.avx512f && f.avx512bw && f.avx512vnni && f.osZmm));
  });
});

describe('setIsa()', () => {
  afterAll(() => {
    const { supported } = lowbit.cpu();
    lowbit.setIsa(supported[supported.length - 1]);
  });

  test('switches the kernels of every op', () => {
    for (const isa of lowbit.cpu().supported) {
      lowbit.setIsa(isa);
      expect(lowbit.cpu().isa).toBe(isa);
      expect(lowbit.cpu().kernels.quantize).toBe(isa.startsWith('neon') ? 'neon' : isa);
    }
  });

  test('rejects levels the CPU cannot run, and unknown names', () => {
    const unsupported = lowbit.cpu().compiled.filter((i) => !lowbit.cpu().supported.includes(i));
    for (const isa of unsupported) {
      expectCode(() => lowbit.setIsa(isa), RangeError, 'ERR_LOWBIT_ISA_UNSUPPORTED', new RegExp(isa));
    }
    expectCode(() => lowbit.setIsa('avx3' as lowbit.Isa), RangeError, 'ERR_LOWBIT_ISA_UNSUPPORTED', /avx3/);
    expectCode(() => lowbit.setIsa(2 as unknown as lowbit.Isa), TypeError, 'ERR_LOWBIT_INVALID_TYPE', /isa must be a string/);
  });
});

describe('LOWBIT_ISA', () => {
  test('=scalar loads the scalar kernels', () => {
    const out = execFileSync(process.execPath, ['-e', "process.stdout.write(JSON.stringify(require('./dist').cpu()))"], {
      cwd: root,
      env: { ...process.env, LOWBIT_ISA: 'scalar' },
      encoding: 'utf8',
    });
    const info = JSON.parse(out) as lowbit.CpuInfo;
    expect(info.isa).toBe('scalar');
    expect(info.kernels.quantize).toBe('scalar');
  });

  test('naming a level the CPU cannot run fails at load with a clear message', () => {
    const missing = ['avx512', 'avx2', 'neon', 'neon_i8mm'].find((i) => !lowbit.cpu().supported.includes(i as lowbit.Isa));
    if (!missing) return;
    const r = runWithIsa(missing, "require('./dist')");
    expect(r.status).not.toBe(0);
    expect(r.signal).toBeNull(); // an exception, not SIGILL
    expect(String(r.stderr)).toMatch(new RegExp(`LOWBIT_ISA=${missing} cannot run on this CPU`));
  });

  test('an unknown name fails at load and lists what the CPU can run', () => {
    const r = runWithIsa('sse9', "require('./dist')");
    expect(r.status).not.toBe(0);
    expect(String(r.stderr)).toMatch(/LOWBIT_ISA=sse9 is not an ISA lowbit knows; this CPU can run: scalar/);
  });
});

// The addon must load and run its scalar path on an x86-64 CPU without AVX2: run Node itself on an
// emulated Nehalem (SSE4.2, no AVX) when qemu-x86_64 is installed (CI installs it).
describe('on an x86-64 CPU without AVX (qemu-x86_64 -cpu Nehalem)', () => {
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-x86_64'], { encoding: 'utf8' }).stdout.trim();
  const runnable = process.arch === 'x64' && process.platform === 'linux' && qemu !== '';
  const onNehalem = (code: string, env: NodeJS.ProcessEnv = {}) =>
    spawnSync(qemu, ['-cpu', 'Nehalem', process.execPath, '-e', code], {
      cwd: root,
      env: { ...process.env, LOWBIT_ISA: '', ...env },
      encoding: 'utf8',
      timeout: 60000,
    });

  (runnable ? test : test.skip)('loads, detects no AVX2 and computes with the scalar kernels', () => {
    const r = onNehalem(
      "const l = require('./dist'); const c = l.cpu();" +
        "const q = l.quantize(new Float32Array([0.5, 1.5, -1, NaN, 1e9]), { scale: 1, zeroPoint: 10 });" +
        'console.log(JSON.stringify({ isa: c.isa, supported: c.supported, avx2: c.features.avx2, q: Array.from(q) }))',
    );
    expect(r.signal).toBeNull();
    expect(JSON.parse(r.stdout)).toEqual({ isa: 'scalar', supported: ['scalar'], avx2: false, q: [10, 12, 9, 10, 255] });
  });

  (runnable ? test : test.skip)('LOWBIT_ISA=avx2 fails at load with a message, not SIGILL', () => {
    const r = onNehalem("require('./dist')", { LOWBIT_ISA: 'avx2' });
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/LOWBIT_ISA=avx2 cannot run on this CPU \(x64\); it can run: scalar/);
  });
});

// AMX tiles (Intel AMX-INT8): used by the AVX-512 level's GEMM where the CPU and the OS allow it,
// off with LOWBIT_AMX=0. The same product with and without them, bit for bit, in two processes.
describe('AMX', () => {
  const product =
    "const l = require('./dist'); let s = 7; const r = () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296;" +
    'const [m, k, n] = [70, 300, 90];' +
    'const w = Int8Array.from({ length: k * n }, () => Math.floor(r() * 256) - 128);' +
    'const x = Uint8Array.from({ length: m * k }, () => Math.floor(r() * 256));' +
    "const lin = l.QuantizedLinear.fromInt8(w, { k, n, layout: 'kn', scale: 0.01 });" +
    'const y = lin.matmulInt32(x, { zeroPoint: 131 });' +
    'const q = lin.matmulQuantized(x, { zeroPoint: 131, scale: 0.02, outScale: 3, outZeroPoint: 7 });' +
    'let h = 0; for (const v of y) h = (Math.imul(h, 31) + v) | 0; for (const v of q) h = (Math.imul(h, 31) + v) | 0;' +
    'console.log(JSON.stringify({ amx: l.cpu().amx, amxInt8: !!l.cpu().features.amxInt8, h }))';
  const run = (env: NodeJS.ProcessEnv) =>
    spawnSync(process.execPath, ['-e', product], { cwd: root, env: { ...process.env, LOWBIT_ISA: '', ...env }, encoding: 'utf8', timeout: 60000 });

  test('cpu().amx says whether the tiles are in use; LOWBIT_AMX=0 turns them off; same results either way', () => {
    const on = run({});
    const off = run({ LOWBIT_AMX: '0' });
    expect(on.signal).toBeNull();
    expect(off.signal).toBeNull();
    const a = JSON.parse(on.stdout), b = JSON.parse(off.stdout);
    expect(typeof a.amx).toBe('boolean');
    expect(b.amx).toBe(false);
    if (!a.amxInt8) expect(a.amx).toBe(false);
    expect(a.h).toBe(b.h);
  });
});
