#!/usr/bin/env node
// Stands in for node-gyp when prebuildify drives the build (prebuildify --node-gyp <this>):
// prebuildify calls `node-gyp rebuild --target=V --devdir=D --arch=A --release` and then takes the
// .node file from build/Release. We build with cmake-js in a folder per platform-arch instead,
// cross-compiling Linux arm64 with cmake/aarch64-linux-gnu.cmake, and copy the result there.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = process.cwd();
const args = process.argv.slice(2);
const opt = (name) => {
  const a = args.find((x) => x.startsWith('--' + name + '='));
  return a ? a.slice(name.length + 3) : undefined;
};
const arch = opt('arch') || process.arch;
const platform = process.env.PREBUILD_PLATFORM || process.platform;
const debug = args.includes('--debug');
// one level below the root, like build/ and build-tests/: ccache (CCACHE_BASEDIR) then sees the same
// relative source paths and reuses their objects
const buildDir = 'build-prebuild-' + platform + '-' + arch;

const cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
const cmd = [cmakeJs, 'rebuild', '--out', buildDir, '--arch', arch];
if (debug) cmd.push('--debug');
if (platform === 'linux' && arch === 'arm64' && process.arch !== 'arm64') {
  cmd.push('--CDCMAKE_TOOLCHAIN_FILE=' + path.join(root, 'cmake', 'aarch64-linux-gnu.cmake'));
}
if (platform === 'darwin') cmd.push('--CDCMAKE_OSX_ARCHITECTURES=' + (arch === 'arm64' ? 'arm64' : 'x86_64'));

console.log('lowbit prebuild: cmake-js ' + cmd.slice(1).join(' '));
const r = spawnSync(process.execPath, cmd, { cwd: root, stdio: 'inherit' });
if (r.status !== 0) process.exit(r.status || 1);

const config = debug ? 'Debug' : 'Release';
const built = path.join(root, buildDir, config, 'lowbit.node');
const dest = path.join(root, 'build', config);
fs.mkdirSync(dest, { recursive: true });
fs.copyFileSync(built, path.join(dest, 'lowbit.node'));
