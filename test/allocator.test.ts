import { spawnSync } from 'node:child_process';
import * as path from 'node:path';

import * as lowbit from '../lib';
import { expectCode } from './helpers';

const root = path.join(__dirname, '..', '..');

describe('retainFreedMemory', () => {
  it('refuses a bad byte count with a code, and changes nothing', () => {
    expectCode(() => lowbit.retainFreedMemory('1' as unknown as number), TypeError, 'ERR_LOWBIT_INVALID_TYPE');
    for (const bad of [-1, 1.5, NaN, Infinity, lowbit.MAX_RETAINED_BYTES + 1]) {
      expectCode(() => lowbit.retainFreedMemory(bad), RangeError, 'ERR_LOWBIT_OUT_OF_RANGE');
    }
  });

  it('applies on glibc (a child process, so this one keeps its defaults), and results stay right', () => {
    const code = `
      const lowbit = require(${JSON.stringify(root)});
      const applied = lowbit.retainFreedMemory(256 * 1024 * 1024);
      const v = new Float32Array(64 * 16).map((_, i) => (i % 7) - 3);
      const t = lowbit.EmbeddingTable.fromFloat32(v, { dim: 16, format: 'f32' });
      const indices = new Int32Array(4096).map((_, i) => (i * 13) % 64);
      const offsets = new Int32Array(2048).map((_, i) => 2 * i);
      const ref = lowbit.embeddingBag(t, { indices, offsets });
      let same = true;
      for (let r = 0; r < 200; r++) {
        const y = lowbit.embeddingBag(t, { indices, offsets });
        for (let i = 0; i < y.length; i += 97) same = same && y[i] === ref[i];
      }
      process.stdout.write(JSON.stringify({ applied, same }));`;
    const r = spawnSync(process.execPath, ['-e', code], { cwd: root, encoding: 'utf8' });
    expect(r.status).toBe(0);
    const { applied, same } = JSON.parse(r.stdout) as { applied: boolean; same: boolean };
    const glibc = process.platform === 'linux' && Boolean((process.report?.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime);
    expect(applied).toBe(glibc);
    expect(same).toBe(true);
  });
});
