'use strict';
/**
 * V8 CPU profiles (--cpu-prof) summarised by self samples: by function, by package and by part of the
 * request path (a bench's own table of parts), counting only the samples inside a window of time.
 */
const fs = require('node:fs');
const path = require('node:path');
const { log, fmt } = require('./harness');

/** A frame's URL without the machine's folders: from node_modules/ or dist/ on. */
function shortUrl(url) {
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return url.slice(nm + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? url.slice(dist + 1) : url.replace(/^file:\/\//, '');
}

/**
 * "npm <package>", "signet apps/<app>", "node <module>" (the module's file name through `nodeModule`),
 * "native: <function>", "V8 garbage collector" or "V8/native (program)".
 */
function categoryOf(functionName, url, nodeModule) {
  if (functionName === '(garbage collector)') return 'V8 garbage collector';
  if (functionName === '(program)') return 'V8/native (program)';
  if (!url) return `native: ${functionName || '(anonymous)'}`;
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return `npm ${parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]}`;
  }
  const dist = /\/dist\/(apps|libs)\/([^/]+)\//.exec(url);
  if (dist) return `signet ${dist[1]}/${dist[2]}`;
  const internal = /^node:(?:internal\/)?([^/]+)/.exec(url);
  if (internal) return `node ${nodeModule(internal[1].replace(/\.js$/, ''))}`;
  return url;
}

/** The part (a name of `parts`, [regexp, name] pairs) a category belongs to. */
function partOf(parts, category) {
  for (const [re, name] of parts) if (re.test(category)) return name;
  if (/^node /.test(category) || /^native: /.test(category) || /^V8\/native/.test(category)) return 'Node/V8 runtime (events, timers, promises, buffers, program)';
  return 'other';
}

/**
 * Self samples of every .cpuprofile in `dir` inside `window` ({ from, to }, ms since the profile started,
 * ~ the process start), by category and by function; `visit(id, n, nodes, parent)` sees each sampled
 * node (n samples) with the profile's nodes and parent ids. Null, after saying so, when there is none.
 */
function selfSamples(dir, window, nodeModule, visit) {
  const files = fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')) : [];
  if (!files.length) {
    log(`  no profile in ${dir}`);
    return null;
  }
  const byFunction = new Map();
  const byCategory = new Map();
  let busy = 0;
  let idle = 0;
  for (const file of files) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8'));
    const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
    const parent = new Map();
    for (const n of profile.nodes) for (const c of n.children || []) parent.set(c, n.id);
    const self = new Map();
    let at = 0; // microseconds since the profile started
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] || 0;
      if (at < window.from * 1000 || at > window.to * 1000) return;
      self.set(id, (self.get(id) || 0) + 1);
    });
    for (const [id, n] of self) {
      const { functionName, url, lineNumber } = nodes.get(id).callFrame;
      if (functionName === '(idle)') {
        idle += n;
        continue;
      }
      busy += n;
      if (visit) visit(id, n, nodes, parent);
      const category = categoryOf(functionName, url, nodeModule);
      byCategory.set(category, (byCategory.get(category) || 0) + n);
      const key = `${functionName || '(anonymous)'} ${url ? `${shortUrl(url)}:${lineNumber + 1}` : 'native'}`;
      byFunction.set(key, (byFunction.get(key) || 0) + n);
    }
  }
  return { files, busy, idle, byCategory, byFunction, pct: (n) => `${((100 * n) / busy).toFixed(1).padStart(5)}%` };
}

/** Prints a selfSamples summary: by part (of `parts`), the top 22 packages and `topFunctions` functions. */
function printSelfSamples(s, parts, topFunctions) {
  const { pct } = s;
  log(`  ${s.files.length} profile(s); ${fmt(s.busy)} samples busy, ${fmt(s.idle)} idle`);
  const byPart = new Map();
  for (const [category, n] of s.byCategory) byPart.set(partOf(parts, category), (byPart.get(partOf(parts, category)) || 0) + n);
  log('  by part of the path (self samples, % of busy):');
  for (const [name, n] of [...byPart].sort((a, b) => b[1] - a[1])) log(`    ${pct(n)}  ${name}`);
  log('  by package (self samples, % of busy):');
  for (const [name, n] of [...s.byCategory].sort((a, b) => b[1] - a[1]).slice(0, 22)) log(`    ${pct(n)}  ${name}`);
  log('  top functions (self samples, % of busy):');
  for (const [name, n] of [...s.byFunction].sort((a, b) => b[1] - a[1]).slice(0, topFunctions)) log(`    ${pct(n)}  ${name}`);
}

module.exports = { shortUrl, categoryOf, partOf, selfSamples, printSelfSamples };
