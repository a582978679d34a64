import { execFileSync } from 'node:child_process';
import * as path from 'node:path';

import * as lowbit from '../lib';

const root = path.join(__dirname, '..', '..');

describe('package entry points', () => {
  test('ES module import exposes the same named exports as require', () => {
    const names = execFileSync(
      process.execPath,
      ['--input-type=module', '-e', "import * as m from 'lowbit'; console.log(JSON.stringify(Object.keys(m).sort()))"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_PATH: '' } },
    );
    const esm = (JSON.parse(names) as string[]).filter((n) => n !== 'default');
    const cjs = Object.keys(lowbit).filter((n) => n !== '__esModule').sort();
    expect(esm).toEqual(cjs);
  });
});
