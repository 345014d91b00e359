'use strict';
/** wrk (https://github.com/wg/wrk): whether it is installed, a run, and its report parsed. */
const { spawnSync } = require('node:child_process');

const wrkInstalled = () => spawnSync('wrk', ['--version']).error === undefined;

/** "12.34ms" -> 12.34 (ms); NaN if not a wrk duration. */
const toMs = (text) => {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text || '');
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000, m: 60000 }[m[2]];
};

/** "1.23MB" -> bytes; NaN if not a wrk size. */
const toBytes = (text) => {
  const m = /^([\d.]+)([KMGT]?B)$/.exec(text || '');
  if (!m) return NaN;
  return Number(m[1]) * { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 }[m[2]];
};

/**
 * Runs wrk with `args` (use --latency for the percentiles). Figures as wrk prints them (`text`) and as
 * numbers (ms, NaN where absent); `done` is false when wrk printed no "N requests in ..." line.
 */
function runWrk(args) {
  const r = spawnSync('wrk', args, { encoding: 'utf8' });
  const out = r.stdout || '';
  const done = /(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read/.exec(out);
  const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const text = {
    p50: /\s50%\s+(\S+)/.exec(out)?.[1],
    p90: /\s90%\s+(\S+)/.exec(out)?.[1],
    p99: /\s99%\s+(\S+)/.exec(out)?.[1],
    max: /Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1],
  };
  return {
    done: Boolean(done),
    rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
    p50: toMs(text.p50),
    p90: toMs(text.p90),
    p99: toMs(text.p99),
    max: toMs(text.max),
    text,
    requests: done ? Number(done[1]) : NaN,
    bytesPerResponse: done ? toBytes(done[3]) / Number(done[1]) : NaN,
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(out)?.[1] ?? 0),
    socketErrors: sockErr ? sockErr.slice(1).map(Number).reduce((a, b) => a + b, 0) : 0,
    raw: out,
    stderr: r.stderr || '',
  };
}

module.exports = { wrkInstalled, toMs, toBytes, runWrk };
