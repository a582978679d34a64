#!/usr/bin/env node
// Proves that the npm tarball works from its prebuilt binary alone: packs the package (checking it
// carries the linux-x64 and linux-arm64 prebuilds and LICENSE), installs the tarball into an empty
// folder with a PATH that holds node and npm but no compiler, cmake or make (so a source build could
// not succeed), then loads lowbit there and checks that the binary came from prebuilds/ and that no
// build tool was installed; installs it again with --ignore-scripts (npm's direction) and loads it;
// then, with the prebuilds removed (a platform without one), checks that require's error names the
// one command to run, runs it (with a compiler on PATH) and loads the source build. Also checks the
// cross-built linux-arm64 binary is an aarch64 Node-API module. Needs `npm run prebuild` first.
// Prints "N passed, N failed".
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
  const releaseTags = process.platform === 'linux' && process.arch === 'x64' ? ['linux-x64', 'linux-arm64'] : [tag];
  check(`tarball holds dist/, LICENSE, the prebuilds (${releaseTags.join(', ')}), the sources, CMakeLists.txt and node-addon-api's headers`,
    ['package/dist/index.js', 'package/dist/index.mjs', 'package/dist/index.d.ts', 'package/LICENSE', ...releaseTags.map((t) => `package/prebuilds/${t}/`),
      'package/CMakeLists.txt', 'package/native/kernels/quant/ref.cc', 'package/scripts/install.js',
      'package/native/third_party/node-addon-api/napi.h', 'package/native/third_party/node-addon-api/LICENSE.md']
      .every((f) => list.includes(f)) && !/package\/(build|\.build-tools|native\/tests)\//.test(list) && !list.includes('build-from-source.log'),
    list);
  const manifest = JSON.parse(run('tar', ['xzOf', tgz, 'package/package.json']).stdout || '{}');
  // node-gyp-build loads the binary; onnx-proto parses ONNX files (loadOnnx) at run time
  check('runtime dependencies: node-gyp-build and onnx-proto only (no cmake-js, no node-addon-api)',
    JSON.stringify(Object.keys(manifest.dependencies || {}).sort()) === '["node-gyp-build","onnx-proto"]', JSON.stringify(manifest.dependencies));

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
  const t0 = Date.now();
  const inst = run('npm', ['install', '--no-audit', '--no-fund', '--foreground-scripts', tgz], { cwd: app, env });
  check(`npm install <tarball> succeeds without a compiler (${((Date.now() - t0) / 1000).toFixed(1)} s)`, inst.status === 0, inst.stdout + inst.stderr);
  check('no build tool installed with the prebuild (cmake-js, node-addon-api)',
    !fs.existsSync(path.join(app, 'node_modules', 'cmake-js')) && !fs.existsSync(path.join(app, 'node_modules', 'node-addon-api')));
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

  // npm's direction: install scripts blocked. The prebuild is found at require time all the same.
  const quiet = path.join(work, 'quiet');
  fs.mkdirSync(quiet);
  fs.writeFileSync(path.join(quiet, 'package.json'), JSON.stringify({ name: 'quiet', version: '1.0.0', private: true }));
  const t1 = Date.now();
  const inst2 = run('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', tgz], { cwd: quiet, env });
  check(`npm install --ignore-scripts <tarball> succeeds (${((Date.now() - t1) / 1000).toFixed(1)} s)`, inst2.status === 0, inst2.stdout + inst2.stderr);
  const load2 = run(process.execPath, ['-e', probe], { cwd: quiet, env });
  let info2 = null;
  try {
    info2 = JSON.parse(load2.stdout);
  } catch {}
  check('with scripts ignored, require("lowbit") loads prebuilds/' + tag + ' and computes',
    info2 !== null && info2.where.includes(path.join('prebuilds', tag)) && JSON.stringify(info2.q) === '[10,12,9]', load2.stdout + load2.stderr);

  // No prebuild for this platform (removed here): require's error says what to run; running it
  // (compiler on PATH) builds from source with CMake alone, fetching nothing (the registry is made
  // unreachable for it), with its output shown and logged.
  const pkgDir = path.join(quiet, 'node_modules', 'lowbit');
  if (fs.existsSync(pkgDir)) {
    fs.rmSync(path.join(pkgDir, 'prebuilds'), { recursive: true, force: true });
    const fail = run(process.execPath, ['-e', "try { require('lowbit'); } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }"], { cwd: quiet, env });
    let err = null;
    try {
      err = JSON.parse(fail.stdout);
    } catch {}
    const command = `node ${path.join(fs.realpathSync(pkgDir), 'scripts', 'install.js')}`;
    check('without a matching prebuild, require throws ERR_LOWBIT_NO_BINARY naming the command to run',
      err !== null && err.code === 'ERR_LOWBIT_NO_BINARY' && err.message.split('\n').some((l) => l.trim() === command), fail.stdout + fail.stderr);
    const fullEnv = { ...env, PATH: bin + path.delimiter + process.env.PATH, npm_config_registry: 'http://127.0.0.1:9/', npm_config_offline: 'true' };
    const build = run('/bin/sh', ['-c', command], { cwd: quiet, env: fullEnv });
    const said = build.stdout + build.stderr;
    check('that command builds from source, its output shown and logged', build.status === 0 && /building from source/.test(said) &&
      said.includes(path.join(fs.realpathSync(pkgDir), 'build-from-source.log')) && fs.existsSync(path.join(pkgDir, 'build-from-source.log')), said);
    check('the source build fetched nothing: no build tools installed (CMake directly, node-addon-api from the tarball)',
      !/installing the build tools/.test(said) && !fs.existsSync(path.join(pkgDir, '.build-tools')) &&
        !fs.existsSync(path.join(quiet, 'node_modules', 'cmake-js')) && fs.existsSync(path.join(pkgDir, 'native', 'third_party', 'node-addon-api', 'napi.h')), said);
    const again = run(process.execPath, ['-e', probe], { cwd: quiet, env });
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
