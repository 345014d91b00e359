/**
 * dns-01 for real ACME clients: their hooks (certbot's --manual-auth-hook/--manual-cleanup-hook,
 * lego's `exec` provider) are shell scripts that cannot reach into the Jest process, so the test's DNS
 * server gets a small HTTP control port on loopback that the scripts curl. A name may carry several
 * TXT values at once (a name and its wildcard share `_acme-challenge.<name>`): present adds one, cleanup
 * takes that one away.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { IncomingMessage, Server, createServer } from 'node:http';
import { join } from 'node:path';
import type { TestDnsServer } from './dns-server';

export interface DnsHookCall {
  op: 'present' | 'cleanup';
  /** Lowercase, without a trailing dot. */
  name: string;
  value: string;
}

export interface DnsControl {
  /** `http://127.0.0.1:<port>`: POST /present and /cleanup with form fields name and value. */
  url: string;
  calls: DnsHookCall[];
  /** Shell scripts that drive this control port (written by writeDnsHookScripts). */
  hooks: DnsHookScripts;
  close(): Promise<void>;
}

export interface DnsHookScripts {
  /** certbot --manual-auth-hook: sets `_acme-challenge.$CERTBOT_DOMAIN` to `$CERTBOT_VALIDATION`. */
  certbotAuth: string;
  /** certbot --manual-cleanup-hook. */
  certbotCleanup: string;
  /** lego's exec provider (EXEC_PATH): `present|cleanup <fqdn> <value>`. */
  legoExec: string;
}

const canonical = (name: string) => name.toLowerCase().replace(/\.$/, '');

function formOf(req: IncomingMessage): Promise<URLSearchParams> {
  return new Promise((resolve, reject) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => {
      body += chunk;
      if (body.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', reject);
  });
}

/** The control port for `dns`, and its hook scripts under `dir`. */
export async function startDnsControl(dns: TestDnsServer, dir: string): Promise<DnsControl> {
  const values = new Map<string, string[]>();
  const calls: DnsHookCall[] = [];
  const server: Server = createServer((req, res) => {
    const op = req.url === '/present' ? 'present' : req.url === '/cleanup' ? 'cleanup' : null;
    if (req.method !== 'POST' || !op) {
      res.writeHead(404).end('POST /present or /cleanup\n');
      return;
    }
    formOf(req).then(
      (form) => {
        const name = canonical(form.get('name') ?? '');
        const value = form.get('value') ?? '';
        if (!name || !value) {
          res.writeHead(400).end('name and value are required\n');
          return;
        }
        calls.push({ op, name, value });
        const now = (values.get(name) ?? []).filter((v) => v !== value);
        if (op === 'present') now.push(value);
        values.set(name, now);
        dns.setTxt(name, now);
        res.writeHead(200).end('ok\n');
      },
      () => res.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as { port: number };
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    calls,
    hooks: writeDnsHookScripts(dir, url),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The hook scripts, executable, in `dir`. */
export function writeDnsHookScripts(dir: string, controlUrl: string): DnsHookScripts {
  mkdirSync(dir, { recursive: true });
  const post = (op: string, name: string, value: string) =>
    `curl -fsS --max-time 10 --data-urlencode "name=${name}" --data-urlencode "value=${value}" ${controlUrl}/${op} >/dev/null`;
  const script = (file: string, body: string) => {
    const path = join(dir, file);
    writeFileSync(path, `#!/bin/sh\nset -eu\n${body}\n`);
    chmodSync(path, 0o755);
    return path;
  };
  return {
    certbotAuth: script('certbot-auth.sh', post('present', '_acme-challenge.${CERTBOT_DOMAIN}', '${CERTBOT_VALIDATION}')),
    certbotCleanup: script('certbot-cleanup.sh', post('cleanup', '_acme-challenge.${CERTBOT_DOMAIN}', '${CERTBOT_VALIDATION}')),
    legoExec: script(
      'lego-exec.sh',
      ['case "$1" in', `  present|cleanup) ${post('$1', '$2', '$3')} ;;`, '  *) exit 0 ;;', 'esac'].join('\n'),
    ),
  };
}
