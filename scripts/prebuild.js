#!/usr/bin/env node
// npm run prebuild: writes prebuilds/<platform>-<arch>/lowbit.<libc>.node in prebuildify's layout
// for this machine, and on Linux x64 also for linux-arm64 by cross-compiling (when
// g++-aarch64-linux-gnu is installed). Arguments: --arch <a> to build one arch only.
// prebuildify drives the builds through scripts/cmake-js-as-node-gyp.js.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const prebuildify = require.resolve('prebuildify/bin.js', { paths: [root] });
const shim = path.join(__dirname, 'cmake-js-as-node-gyp.js');
// prebuildify spawns --node-gyp without a shell on Unix (the shim runs by its shebang) and with
// one on Windows (where a .js file must be given to node explicitly).
const nodeGyp = process.platform === 'win32' ? `"${process.execPath}" "${shim}"` : shim;

function has(cmd) {
  return spawnSync('sh', ['-c', 'command -v ' + cmd], { stdio: 'ignore' }).status === 0;
}

const argArch = process.argv.indexOf('--arch');
const arches = argArch > 0 ? [process.argv[argArch + 1]] : [process.arch];
if (argArch < 0 && process.platform === 'linux' && process.arch === 'x64') {
  if (has('aarch64-linux-gnu-g++')) arches.push('arm64');
  else console.log('lowbit prebuild: aarch64-linux-gnu-g++ not found, skipping linux-arm64');
}

// Keep a developer's own build/Release/lowbit.node: prebuildify moves the file it finds there.
const devBuild = path.join(root, 'build', 'Release', 'lowbit.node');
const saved = fs.existsSync(devBuild) ? fs.readFileSync(devBuild) : null;
let status = 0;
try {
  for (const arch of arches) {
    const a = ['--napi', '--tag-libc', '--strip', '--arch', arch, '--node-gyp', nodeGyp];
    if (process.platform === 'linux' && arch === 'arm64' && process.arch !== 'arm64') {
      a.push('--strip-bin', 'aarch64-linux-gnu-strip');
    }
    if (process.platform === 'win32') a.splice(a.indexOf('--tag-libc'), 1);
    const r = spawnSync(process.execPath, [prebuildify, ...a], { cwd: root, stdio: 'inherit' });
    if (r.status !== 0) {
      status = r.status || 1;
      break;
    }
  }
} finally {
  if (saved) {
    fs.mkdirSync(path.dirname(devBuild), { recursive: true });
    fs.writeFileSync(devBuild, saved);
  }
}
for (const dir of fs.existsSync(path.join(root, 'prebuilds')) ? fs.readdirSync(path.join(root, 'prebuilds')) : []) {
  for (const f of fs.readdirSync(path.join(root, 'prebuilds', dir))) console.log('prebuilds/' + dir + '/' + f);
}
process.exit(status);
