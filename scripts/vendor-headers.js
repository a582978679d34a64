#!/usr/bin/env node
// prepack: copies node-addon-api's headers (and its license) into native/third_party/node-addon-api,
// so that the npm tarball can build lowbit from source with CMake and a compiler alone: an install
// without a matching prebuild fetches nothing (scripts/install.js). The folder is not committed
// (.gitignore); node-addon-api stays a devDependency.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const from = path.dirname(require.resolve('node-addon-api/package.json', { paths: [root] }));
const to = path.join(root, 'native', 'third_party', 'node-addon-api');
fs.rmSync(to, { recursive: true, force: true });
fs.mkdirSync(to, { recursive: true });
const files = fs.readdirSync(from).filter((f) => f.endsWith('.h') || /^LICENSE/.test(f));
for (const f of files) fs.copyFileSync(path.join(from, f), path.join(to, f));
const { version } = require(path.join(from, 'package.json'));
fs.writeFileSync(path.join(to, 'VERSION'), `node-addon-api ${version}, copied from node_modules at pack time\n`);
console.log(`lowbit: node-addon-api ${version} headers -> ${path.relative(root, to)} (${files.join(', ')})`);
