#!/usr/bin/env node
// lowbit's install hook, and the command that builds lowbit from source by hand:
//   node node_modules/lowbit/scripts/install.js           what `npm install` runs
//   node node_modules/lowbit/scripts/install.js --build   builds from source even if a prebuild loads
// (LOWBIT_BUILD_FROM_SOURCE=1 does the same as --build.)
//
// Uses the prebuilt binary for this platform when one ships and loads: nothing else is needed, no
// compiler, no build tool. Otherwise it builds from source, and fetches nothing to do so: on Linux
// and macOS it runs CMake directly, with Node's own headers (<node>/include/node, or
// npm_config_nodedir) and node-addon-api's (node_modules in a checkout, native/third_party in the
// tarball); on Windows, where the addon links against node.lib, it runs cmake-js (a checkout's
// devDependency, or installed into <package>/.build-tools with npm). npm 11 hides install-script
// output, so the build's output goes to the terminal (/dev/tty) when there is one, and always to
// <package>/build-from-source.log.
'use strict';
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn, spawnSync } = require('node:child_process');

const root = path.join(__dirname, '..');
const pkg = require(path.join(root, 'package.json'));
const logFile = path.join(root, 'build-from-source.log');
const tag = `${process.platform}-${process.arch}`;
const again = `node ${path.join(root, 'scripts', 'install.js')}`;

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

// Where the build's output goes: the log, and the terminal when this process has one (npm 11 runs
// install scripts with their output captured and shows it only on failure).
function openOutput() {
  const log = fs.openSync(logFile, 'w');
  let tty = null;
  try {
    tty = fs.openSync('/dev/tty', 'w');
  } catch {
    // no terminal (CI, a pipe): the log and npm's own capture
  }
  const write = (s) => {
    fs.writeSync(log, s);
    if (tty !== null) fs.writeSync(tty, s);
    else process.stdout.write(s);
  };
  return { write, close: () => { fs.closeSync(log); if (tty !== null) fs.closeSync(tty); } };
}

// Runs a command with its output streamed to `out`; resolves to its exit status.
function run(out, cmd, args, opts) {
  out.write(`$ ${path.basename(cmd)} ${args.join(' ')}\n`);
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d) => out.write(d.toString()));
    child.stderr.on('data', (d) => out.write(d.toString()));
    child.on('error', (e) => {
      out.write(`${e.message}\n`);
      resolve(127);
    });
    child.on('close', (code) => resolve(code ?? 1));
  });
}

// Windows (and a checkout whose Node lacks its headers): cmake-js and node-addon-api, from the
// checkout's devDependencies, or installed for this build.
// A checkout's cmake-js devDependency, or null (an installed package).
function checkoutCmakeJs() {
  try {
    return require.resolve('cmake-js/bin/cmake-js', { paths: [root] });
  } catch {
    return null;
  }
}

async function buildTools(out) {
  const local = checkoutCmakeJs();
  if (local) return { cmakeJs: local, nodePath: null };
  // an installed package: fetch the build tools into .build-tools (not into the app's tree)
  const tools = path.join(root, '.build-tools');
  const want = ['cmake-js', 'node-addon-api'].map((n) => `${n}@${pkg.devDependencies[n]}`);
  out.write(`lowbit: installing the build tools ${want.join(', ')} into ${tools}\n`);
  fs.mkdirSync(tools, { recursive: true });
  fs.writeFileSync(path.join(tools, 'package.json'), JSON.stringify({ name: 'lowbit-build-tools', private: true }));
  const npmCli = process.env.npm_execpath && /npm-cli\.js$/.test(process.env.npm_execpath) ? process.env.npm_execpath : null;
  const [cmd, pre] = npmCli ? [process.execPath, [npmCli]] : ['npm', []];
  const status = await run(out, cmd, [...pre, 'install', '--no-audit', '--no-fund', '--no-save', '--ignore-scripts', ...want], { cwd: tools, shell: !npmCli && process.platform === 'win32' });
  if (status !== 0) return null;
  const nm = path.join(tools, 'node_modules');
  return { cmakeJs: path.join(nm, 'cmake-js', 'bin', 'cmake-js'), nodePath: nm };
}

// Node's C headers (node_api.h): npm_config_nodedir (a Node source or headers tree), else the ones
// every official Node build installs beside its binary; null when neither has them.
const besideNode = path.join(path.dirname(process.execPath), '..', 'include', 'node');
function nodeHeaders() {
  const dirs = [];
  if (process.env.npm_config_nodedir) {
    dirs.push(path.join(process.env.npm_config_nodedir, 'include', 'node'), path.join(process.env.npm_config_nodedir, 'src'));
  }
  dirs.push(besideNode);
  return dirs.find((d) => fs.existsSync(path.join(d, 'node_api.h'))) || null;
}

// CMake directly: configure build/ (Release) with Node's headers `include` (nodeHeaders()), then
// build lowbit.node into build/Release, where node-gyp-build finds it.
async function cmakeBuild(out, env, include) {
  if (!include) {
    out.write(`lowbit: Node's headers (node_api.h) are not in ${besideNode}; ` +
      'set npm_config_nodedir to a Node headers tree (the node-v<version>-headers tarball of nodejs.org) and run this again.\n');
    return 1;
  }
  const build = path.join(root, 'build');
  let status = await run(out, 'cmake', ['-S', root, '-B', build, '-DCMAKE_BUILD_TYPE=Release', `-DLOWBIT_NODE_INCLUDE=${include}`], { cwd: root, env });
  if (status === 0) status = await run(out, 'cmake', ['--build', build, '--config', 'Release', '--target', 'lowbit'], { cwd: root, env });
  return status;
}

async function buildFromSource() {
  const out = openOutput();
  try {
    out.write(`lowbit: no prebuilt binary for ${tag} loads here; building from source ` +
      `(a few minutes; needs CMake >= 3.15 and a C++17 compiler). Output: ${logFile}\n`);
    const env = { ...process.env };
    if (!env.CMAKE_BUILD_PARALLEL_LEVEL) env.CMAKE_BUILD_PARALLEL_LEVEL = String(Math.max(1, os.cpus().length));
    let status = 1;
    let tools = null;
    // a checkout of a Node without its headers still builds, with its cmake-js devDependency
    const include = nodeHeaders();
    if (process.platform !== 'win32' && (include || !checkoutCmakeJs())) {
      status = await cmakeBuild(out, env, include);
    } else {
      tools = await buildTools(out);
      if (tools) {
        // CMakeLists.txt finds node-addon-api with `node -p require(...)`
        if (tools.nodePath) env.NODE_PATH = [tools.nodePath, env.NODE_PATH].filter(Boolean).join(path.delimiter);
        status = await run(out, process.execPath, [tools.cmakeJs, 'compile', '--out', 'build'], { cwd: root, env });
      }
    }
    if (status !== 0) {
      out.write(
        `lowbit: the source build failed (output: ${logFile}).\n` +
          '       It needs CMake >= 3.15 and a C++17 compiler (g++ >= 9, clang >= 10 or MSVC 2019+)' +
          (process.platform === 'win32' ? ', and npm to fetch cmake-js' : '') + '.\n' +
          `       Install them, then run: ${again}\n`,
      );
      return status || 1;
    }
    out.write(`lowbit: built ${path.join(root, 'build', 'Release', 'lowbit.node')}\n`);
    if (tools && tools.nodePath) fs.rmSync(path.dirname(tools.nodePath), { recursive: true, force: true });
    return 0;
  } finally {
    out.close();
  }
}

async function main() {
  const force = process.argv.includes('--build') || process.env.LOWBIT_BUILD_FROM_SOURCE === '1';
  if (!force) {
    const found = prebuildLoads();
    if (found) {
      console.log('lowbit: using ' + path.relative(root, found));
      return 0;
    }
  }
  return buildFromSource();
}

main().then((code) => process.exit(code), (e) => {
  console.error(e);
  process.exit(1);
});
