#!/usr/bin/env node
/** The entry point: node dist/apps/agent/main.js --config agent.json [--once]. */
import { main } from './src/main';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`signet-agent: ${error.stack ?? error.message}\n`);
    process.exit(1);
  },
);
