/**
 * `signet-agent --config <file> [--once]` (built: node dist/apps/agent/main.js). Exit codes: 0 done (or
 * stopped by SIGTERM), 1 reports left in the spool (--once), 2 bad usage or configuration.
 */
import { Agent } from './agent';
import { ConfigError, loadConfig } from './config';

const USAGE = 'usage: signet-agent --config <agent.json> [--once]';

export async function main(argv: string[]): Promise<number> {
  const log = (message: string) => process.stderr.write(`${new Date().toISOString()} signet-agent: ${message}\n`);
  let configFile: string | undefined;
  let once = false;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--config') configFile = argv[++i];
    else if (argv[i].startsWith('--config=')) configFile = argv[i].slice('--config='.length);
    else if (argv[i] === '--once') once = true;
    else if (argv[i] === '--help' || argv[i] === '-h') {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    } else {
      log(`unknown argument ${argv[i]}\n${USAGE}`);
      return 2;
    }
  }
  if (!configFile) {
    log(USAGE);
    return 2;
  }
  let agent: Agent;
  try {
    agent = new Agent(loadConfig(configFile), log);
  } catch (error) {
    if (error instanceof ConfigError) {
      log(error.message);
      return 2;
    }
    throw error;
  }
  return once ? agent.once() : agent.run();
}
