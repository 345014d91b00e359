/**
 * certbot as the tests run it: its config, work and logs directories under one folder of the test's
 * (never /etc/letsencrypt), non-interactive, trusting the gateway's HTTPS certificate. The certbot suite
 * runs its whole lifecycle with it; the Caddy suite its `revoke --key-path` (Caddy has no revoke).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AcmeStack } from './acme-stack';
import type { ToolResult } from './acme-tools';

/** The directories certbot keeps its state in under `dir`: `config` holds live/, archive/ and renewal/. */
export const certbotDirs = (dir: string) => ({ config: join(dir, 'config'), work: join(dir, 'work'), logs: join(dir, 'logs') });

/** Run certbot with its state under `dir`; a non-zero exit throws with its output, its letsencrypt.log and the server's log. */
export async function runCertbot(stack: AcmeStack, dir: string, args: string[]): Promise<ToolResult> {
  const dirs = certbotDirs(dir);
  const result = await stack.tools.run(
    'certbot',
    [...args, '--non-interactive', '--config-dir', dirs.config, '--work-dir', dirs.work, '--logs-dir', dirs.logs],
    { env: { REQUESTS_CA_BUNDLE: stack.gatewayTrustFile } },
  );
  if (result.code !== 0) {
    const log = join(dirs.logs, 'letsencrypt.log');
    const certbotLog = existsSync(log) ? readFileSync(log, 'utf8').slice(-8000) : '(no letsencrypt.log)';
    throw new Error(`${stack.tools.explain(result, `certbot exited ${result.code}`)}\n--- letsencrypt.log ---\n${certbotLog}`);
  }
  return result;
}
