#!/usr/bin/env node
// npm install hook. Uses the prebuilt binary for this platform when one ships and loads;
// otherwise builds from source with cmake-js (node-gyp-build's own install command would run
// node-gyp, which cannot build a CMake project).
// LOWBIT_BUILD_FROM_SOURCE=1 forces the source build.
'use strict';
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');

function prebuildLoads() {
  // In a child process, without LOWBIT_ISA, so a bad binary or a missing symbol cannot take this
  // process down and a user's ISA cap cannot make the check fail.
  const env = { ...process.env };
  delete env.LOWBIT_ISA;
  const r = spawnSync(
    process.execPath,
    ['-e', 'const b = require("node-gyp-build"); const p = b.path(process.argv[1]); require(p); console.log(p)', root],
    { cwd: root, env, encoding: 'utf8' },
  );
  return r.status === 0 ? r.stdout.trim() : null;
}

function buildFromSource() {
  let cmakeJs;
  try {
    cmakeJs = require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    console.error('lowbit: cmake-js is missing; reinstall lowbit with its dependencies');
    return 1;
  }
  console.log('lowbit: no prebuilt binary for ' + process.platform + '-' + process.arch + ' loads here; building from source');
  const r = spawnSync(process.execPath, [cmakeJs, 'compile', '--out', 'build'], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(
      'lowbit: the source build failed. It needs CMake >= 3.15 and a C++17 compiler (g++ >= 9, clang >= 10 or MSVC 2019+).\n' +
        '       Install them and run `npm rebuild lowbit`.',
    );
    return r.status || 1;
  }
  return 0;
}

if (process.env.LOWBIT_BUILD_FROM_SOURCE !== '1') {
  const found = prebuildLoads();
  if (found) {
    console.log('lowbit: using ' + path.relative(root, found));
    process.exit(0);
  }
}
process.exit(buildFromSource());
