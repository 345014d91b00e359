'use strict';
/**
 * The reference peers (cfssl, nginx) of ../shared/peers: started with its `start` script when a bench
 * needs them and they do not answer, and stopped at the bench's clean-up only if this run started them.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

/** Where peers/start keeps its keys, certificates and requests. */
const peersDataDir = () => process.env.PEERS_DIR || path.join(process.env.TMPDIR || '/tmp', 'signet-peers');

/** `dir` holds start and stop; `run` is the bench run (lib/harness.js createRun). */
function createPeers(run, dir) {
  let startedHere = false;
  run.onCleanup(() => {
    if (startedHere) spawnSync(path.join(dir, 'stop'), { stdio: 'ignore' });
  });
  return {
    get startedHere() {
      return startedHere;
    },
    /** Runs peers/start (counted as started here, even if it fails half-way); returns what it printed. */
    start() {
      const out = path.join(run.work, 'peers-start.log');
      // Output to a file: nginx daemonises and could keep an inherited pipe open.
      const r = spawnSync('bash', ['-c', `"${path.join(dir, 'start')}" > "${out}" 2>&1`], { stdio: 'ignore' });
      startedHere = true;
      const text = fs.readFileSync(out, 'utf8');
      if (r.status !== 0) throw new Error(`peers/start failed: ${text.trim().split('\n').slice(-3).join(' | ')}`);
      return text;
    },
  };
}

module.exports = { peersDataDir, createPeers };
