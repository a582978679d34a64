#!/usr/bin/env node
// Proves that the npm tarball works from its prebuilt binary alone: packs the package, installs the
// tarball into an empty folder with a PATH that holds node and npm but no compiler, cmake or make
// (so a source build could not succeed), then loads lowbit there and checks that the binary came
// from prebuilds/. Also checks the cross-built linux-arm64 binary is an aarch64 Node-API module.
// Needs `npm run prebuild` first. Prints "N passed, N failed".
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
let passed = 0;
let failed = 0;
function check(name, ok, detail) {
  if (ok) passed++;
  else failed++;
  console.log((ok ? 'ok   ' : 'FAIL ') + name + (ok || !detail ? '' : '\n     ' + String(detail).trim().split('\n').join('\n     ')));
  return ok;
}
function run(cmd, args, opts) {
  return spawnSync(cmd, args, { encoding: 'utf8', ...opts });
}

const tag = process.platform + '-' + process.arch;
const prebuild = path.join(root, 'prebuilds', tag);
if (!check('prebuilds/' + tag + ' exists (run npm run prebuild)', fs.existsSync(prebuild))) {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(1);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'lowbit-prebuild-'));
try {
  const pack = run('npm', ['pack', '--pack-destination', work, '--silent'], { cwd: root });
  const tgz = pack.status === 0 ? path.join(work, pack.stdout.trim().split('\n').pop()) : '';
  check('npm pack', pack.status === 0 && fs.existsSync(tgz), pack.stderr);
  const list = run('tar', ['tzf', tgz]).stdout || '';
  check('tarball holds dist/, the prebuild, the sources and CMakeLists.txt',
    ['package/dist/index.js', 'package/dist/index.mjs', 'package/dist/index.d.ts', `package/prebuilds/${tag}/`,
      'package/CMakeLists.txt', 'package/native/kernels/quant/ref.cc', 'package/scripts/install.js']
      .every((f) => list.includes(f)) && !list.includes('package/build/') && !list.includes('package/native/tests/'),
    list);

  // A PATH with node, npm and sh (npm runs scripts through it) only.
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(process.execPath, path.join(bin, 'node'));
  fs.symlinkSync('/bin/sh', path.join(bin, 'sh'));
  const npmCli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath)
    ? process.env.npm_execpath
    : fs.realpathSync(run('/bin/sh', ['-c', 'command -v npm']).stdout.trim());
  fs.writeFileSync(path.join(bin, 'npm'), `#!/bin/sh\nexec "${process.execPath}" "${npmCli}" "$@"\n`, { mode: 0o755 });
  const env = { ...process.env, PATH: bin, npm_config_yes: 'true' };
  for (const k of Object.keys(env)) if (k.startsWith('npm_') && k !== 'npm_config_yes' && k !== 'npm_config_cache') delete env[k];
  delete env.LOWBIT_ISA;
  check('no cmake, c++ or make on the install PATH',
    ['cmake', 'c++', 'g++', 'make', 'cc'].every((c) => run('/bin/sh', ['-c', 'command -v ' + c], { env }).status !== 0));

  const app = path.join(work, 'app');
  fs.mkdirSync(app);
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true }));
  const inst = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz], { cwd: app, env });
  check('npm install <tarball> succeeds without a compiler', inst.status === 0, inst.stdout + inst.stderr);
  check('the install script chose the prebuild', /lowbit: using prebuilds/.test(inst.stdout + inst.stderr), inst.stdout + inst.stderr);
  check('nothing was built', !fs.existsSync(path.join(app, 'node_modules', 'lowbit', 'build')));

  const probe = `
    const lowbit = require('lowbit');
    const where = require('node-gyp-build').path(require('path').dirname(require.resolve('lowbit/package.json')));
    const q = lowbit.quantize(new Float32Array([0.5, 1.5, -1]), { scale: 1, zeroPoint: 10 });
    console.log(JSON.stringify({ where, isa: lowbit.cpu().isa, q: Array.from(q) }));`;
  const load = run(process.execPath, ['-e', probe], { cwd: app, env });
  let info = null;
  try {
    info = JSON.parse(load.stdout);
  } catch {}
  check('require("lowbit") works in the app', load.status === 0 && info !== null, load.stderr);
  if (info) {
    check('the binary loaded is prebuilds/' + tag, info.where.includes(path.join('prebuilds', tag)), info.where);
    check('it computes', JSON.stringify(info.q) === '[10,12,9]', JSON.stringify(info.q));
  }
  const esm = run(process.execPath, ['--input-type=module', '-e', "import { cpu } from 'lowbit'; console.log(cpu().isa)"], { cwd: app, env });
  check('import { cpu } from "lowbit" works', esm.status === 0 && esm.stdout.trim().length > 0, esm.stderr);
  fs.writeFileSync(path.join(app, 'use.ts'), "import { quantize, cpu, type CpuInfo } from 'lowbit';\nconst c: CpuInfo = cpu();\nconst q: Uint8Array = quantize(new Float32Array(2), { scale: 1, zeroPoint: 0 });\nexport { c, q };\n");
  const tsc = path.join(root, 'node_modules', '.bin', 'tsc');
  const types = run(tsc, ['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types'), 'use.ts'], { cwd: app, env });
  check('the typings type-check a consumer (strict)', types.status === 0, types.stdout + types.stderr);

  // No prebuild for this platform: the install script must build from source with cmake-js.
  if (fs.existsSync(path.join(app, 'node_modules', 'lowbit'))) {
    fs.rmSync(path.join(app, 'node_modules', 'lowbit', 'prebuilds'), { recursive: true, force: true });
    const fullEnv = { ...env, PATH: bin + path.delimiter + process.env.PATH };
    const rebuild = run('npm', ['rebuild', 'lowbit', '--foreground-scripts'], { cwd: app, env: fullEnv });
    check('without a matching prebuild, install builds from source', rebuild.status === 0 &&
      /building from source/.test(rebuild.stdout + rebuild.stderr), rebuild.stdout + rebuild.stderr);
    const again = run(process.execPath, ['-e', probe], { cwd: app, env });
    let built = null;
    try {
      built = JSON.parse(again.stdout);
    } catch {}
    check('the source build loads from build/Release and computes',
      built !== null && built.where.includes(path.join('build', 'Release')) && JSON.stringify(built.q) === '[10,12,9]',
      again.stdout + again.stderr);
  }

  // The cross-built arm64 binary cannot run here (no Node under qemu): check what it is.
  const arm = path.join(root, 'prebuilds', 'linux-arm64');
  if (process.platform === 'linux' && process.arch === 'x64' && fs.existsSync(arm)) {
    for (const f of fs.readdirSync(arm)) {
      const hdr = fs.readFileSync(path.join(arm, f)).subarray(0, 20);
      const machine = hdr.readUInt16LE(18);
      const syms = run('/bin/sh', ['-c', `(aarch64-linux-gnu-nm -D "${path.join(arm, f)}" || nm -D "${path.join(arm, f)}") 2>/dev/null`]).stdout || '';
      check(`prebuilds/linux-arm64/${f} is an aarch64 Node-API module`, machine === 183 && /T napi_register_module_v1/.test(syms), `e_machine ${machine}`);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
