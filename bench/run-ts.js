#!/usr/bin/env node
/**
 * Run a TypeScript bench script straight from source: `node bench/run-ts.js bench/pki-issuance.ts`.
 * A require hook compiles .ts with SWC (the same settings as the tests) and maps `@signet/<lib>` to
 * libs/<lib>/src/index.ts, so benches measure the code as it is, without a build step.
 */
const fs = require('node:fs');
const path = require('node:path');
const Module = require('node:module');
const { transformSync } = require('@swc/core');

const root = path.join(__dirname, '..');
const swcrc = JSON.parse(fs.readFileSync(path.join(root, '.swcrc'), 'utf8'));
delete swcrc.$schema;

const resolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  const lib = /^@signet\/([a-z-]+)$/.exec(request);
  if (lib) request = path.join(root, 'libs', lib[1], 'src/index.ts');
  return resolve.call(this, request, ...rest);
};

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, { ...swcrc, filename, swcrc: false, sourceMaps: 'inline' });
  module._compile(code, filename);
};

const script = process.argv[2];
if (!script) {
  console.error('usage: node bench/run-ts.js <script.ts> [args...]');
  process.exit(64);
}
process.argv.splice(1, 1);
require(path.resolve(script));
