'use strict';
/**
 * What every ACME server of the bench validates against, in a process of its own so that a busy load
 * generator does not delay (or get charged for) validations:
 * - a loopback DNS server (@signet/testing's startDnsServer) where every *.bench.test is 127.0.0.1;
 * - an http-01 responder: GET /.well-known/acme-challenge/<token> answers the key authorization
 *   `<token>.<thumbprint>` (RFC 8555 8.1, 8.3), the account's thumbprint chosen by the first label's
 *   prefix (`signet-1.bench.test` -> the one registered as "signet"); nothing is kept per token.
 *
 * Started by issuance.js with `fork` through run-ts.js: sends { dns, httpPort } once listening, takes
 * { prefix, thumbprint } messages and answers each with { registered: prefix }.
 */
const http = require('node:http');
const { startDnsServer } = require('@signet/testing');

const CHALLENGE_PATH = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/;

async function main() {
  const thumbprints = new Map();
  const dns = await startDnsServer();
  dns.setDefaultA('127.0.0.1');
  const server = http.createServer((req, res) => {
    const token = CHALLENGE_PATH.exec(req.url ?? '')?.[1];
    const thumbprint = thumbprints.get(/^([a-z]+)-/.exec(req.headers.host ?? '')?.[1]);
    if (!token || !thumbprint) return void res.writeHead(404).end('unknown token or name');
    res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${token}.${thumbprint}`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  process.on('message', ({ prefix, thumbprint }) => {
    thumbprints.set(prefix, thumbprint);
    process.send({ registered: prefix });
  });
  // Gone with the bench: on SIGTERM from its clean-up, or when its IPC channel closes.
  const stop = () => {
    server.closeAllConnections();
    Promise.all([dns.close(), new Promise((resolve) => server.close(resolve))]).finally(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
  process.send({ dns: dns.address, httpPort: server.address().port });
}

main().catch((error) => {
  process.stderr.write(`challenge-server: ${error.stack ?? error}\n`);
  process.exit(1);
});
