/**
 * The challenge validators against real loopback targets: an HTTP server, a TLS server with RFC 8737
 * certificates made by openssl, and the test DNS server (libs/testing) through which every
 * `*.example.test` name resolves to 127.0.0.1.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, Socket as UdpSocket } from 'node:dgram';
import { Resolver } from 'node:dns/promises';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { IncomingMessage, Server as HttpServer, ServerResponse, createServer as createHttpServer } from 'node:http';
import { AddressInfo, Server as NetServer, Socket, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecureContext, Server as TlsServer, createSecureContext, createServer as createTlsServer } from 'node:tls';
import { TestDnsServer, startDnsServer } from '@signet/testing';
import { ValidationOptions, ValidationOutcome, ValidationTarget, keyAuthorizationDigest, validateChallenge } from './challenge-validators';
import { reverseName } from './tls-alpn-01';

const ERR = 'urn:ietf:params:acme:error:';
const THUMBPRINT = 'LPJNul-wow4m6Dsqxbning-Eh8UlRRi1xsDDfZiYXhY';
const newToken = () => randomBytes(32).toString('base64url');
const keyAuth = (token: string) => `${token}.${THUMBPRINT}`;

const listen = async <S extends NetServer>(server: S, host = '127.0.0.1', port = 0): Promise<number> => {
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, () => resolve()));
  return (server.address() as AddressInfo).port;
};
const closeServer = (server: NetServer) => new Promise<void>((resolve) => server.close(() => resolve()));

function expectProblem(outcome: ValidationOutcome, type: string, detail?: RegExp): void {
  if (outcome.valid) throw new Error(`expected a ${type} problem, the challenge validated`);
  expect(outcome.problem.type).toBe(ERR + type);
  if (detail) expect(outcome.problem.detail).toMatch(detail);
}

describe('challenge validators', () => {
  let dns: TestDnsServer;
  let options: ValidationOptions;
  const sockets = new Set<Socket>();
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  };

  // http-01: what each token's URL serves, and the Host headers that came in.
  const served = new Map<string, (req: IncomingMessage, res: ServerResponse) => void>();
  const hostHeaders: string[] = [];
  let http: HttpServer;
  let httpV6: HttpServer | undefined;
  let httpPort: number;

  // tls-alpn-01: a secure context per SNI name.
  const contexts = new Map<string, SecureContext>();
  const sniSeen: Array<string | undefined> = [];
  let tls: TlsServer;
  let tlsPort: number;
  let plainTls: TlsServer;
  let plainTlsPort: number;

  // Hostile and absent targets.
  let silent: NetServer;
  let silentPort: number;
  let refusedPort: number;
  let deafDns: UdpSocket;
  let workDir: string;

  /** A self-signed certificate from openssl with the given SAN and, optionally, the acmeIdentifier extension. */
  function certificate(san: string, acmeIdentifier?: { keyAuthorization: string; critical?: boolean }): { key: string; cert: string } {
    const id = randomBytes(4).toString('hex');
    const keyFile = join(workDir, `${id}.key`);
    const certFile = join(workDir, `${id}.pem`);
    const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyFile, '-out', certFile, '-days', '1', '-subj', '/CN=acme-tls-alpn-01', '-addext', `subjectAltName=${san}`];
    if (acmeIdentifier) {
      const hex = createHash('sha256').update(acmeIdentifier.keyAuthorization).digest('hex').replace(/(..)(?!$)/g, '$1:');
      args.push('-addext', `1.3.6.1.5.5.7.1.31=${acmeIdentifier.critical === false ? '' : 'critical,'}DER:04:20:${hex}`);
    }
    execFileSync('openssl', args, { stdio: 'pipe' });
    return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8') };
  }

  const httpTarget = (name: string, token: string): ValidationTarget => ({ type: 'http-01', identifier: { type: 'dns', value: name }, token, keyAuthorization: keyAuth(token) });

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'acme-validation-'));
    dns = await startDnsServer();
    dns.setDefaultA('127.0.0.1');

    const handle = (req: IncomingMessage, res: ServerResponse) => {
      hostHeaders.push(req.headers.host ?? '');
      const token = (req.url ?? '').replace('/.well-known/acme-challenge/', '');
      const handler = served.get(token);
      if (handler) return handler(req, res);
      res.writeHead(404).end('not found');
    };
    http = createHttpServer(handle).on('connection', track);
    httpPort = await listen(http);
    try {
      httpV6 = createHttpServer(handle).on('connection', track);
      await listen(httpV6, '::1', httpPort);
    } catch {
      httpV6 = undefined; // no IPv6 loopback here: the fallback test is skipped
    }

    tls = createTlsServer({
      ALPNProtocols: ['acme-tls/1'],
      SNICallback: (servername, callback) => {
        sniSeen.push(servername);
        callback(null, contexts.get(servername) ?? contexts.get('default'));
      },
    }).on('connection', track);
    tls.on('secureConnection', (socket) => socket.end());
    tlsPort = await listen(tls);

    const plain = certificate('DNS:www.example.test');
    plainTls = createTlsServer({ ...plain, ALPNProtocols: ['http/1.1'] }, (socket) => socket.end()).on('connection', track);
    plainTlsPort = await listen(plainTls);

    silent = createNetServer((socket) => track(socket)); // accepts, then says nothing
    silentPort = await listen(silent);

    const gone = createNetServer();
    refusedPort = await listen(gone);
    await closeServer(gone);

    deafDns = createSocket('udp4'); // takes DNS queries and never answers
    await new Promise<void>((resolve) => deafDns.bind(0, '127.0.0.1', () => resolve()));

    options = { resolver: dns.address, http01Port: httpPort, tlsAlpn01Port: tlsPort, timeoutMs: 3000 };
  });

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all([http, httpV6, tls, plainTls, silent].filter((s): s is NetServer => !!s).map(closeServer));
    await new Promise<void>((resolve) => deafDns.close(() => resolve()));
    await dns.close();
    rmSync(workDir, { recursive: true, force: true });
  });

  describe('the test DNS server', () => {
    const resolver = () => {
      const r = new Resolver();
      r.setServers([dns.address]);
      return r;
    };

    it('answers SOA and NS at the zone apex, NODATA for an empty non-terminal, NXDOMAIN for nothing, REFUSED outside', async () => {
      expect(await resolver().resolveSoa('test')).toMatchObject({ nsname: 'ns.test', hostmaster: 'hostmaster.test' });
      expect(await resolver().resolveNs('test')).toEqual(['ns.test']);
      dns.setDefaultA(null);
      try {
        dns.setTxt('_acme-challenge.ent.example.test', ['x']);
        await expect(resolver().resolveTxt('ent.example.test')).rejects.toMatchObject({ code: 'ENODATA' });
        await expect(resolver().resolve4('nothing.example.test')).rejects.toMatchObject({ code: 'ENOTFOUND' });
        await expect(resolver().resolve4('www.example.org')).rejects.toMatchObject({ code: 'EREFUSED' });
      } finally {
        dns.setDefaultA('127.0.0.1');
      }
    });

    it('splits long TXT values into strings and serves an answer too large for UDP over TCP', async () => {
      const long = 'v'.repeat(700);
      dns.setTxt('_acme-challenge.big.example.test', [long, ...Array.from({ length: 3 }, (_, i) => `${i}`.repeat(200))]);
      const records = (await resolver().resolveTxt('_acme-challenge.big.example.test')).map((chunks) => chunks.join(''));
      expect(records).toContain(long);
      expect(dns.queries.filter((q) => q.name === '_acme-challenge.big.example.test').map((q) => q.transport)).toEqual(['udp', 'tcp']);
    });
  });

  describe('keyAuthorizationDigest', () => {
    it('is base64url of SHA-256, no padding', () => {
      expect(keyAuthorizationDigest('abc')).toBe('ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0');
    });
  });

  describe('http-01', () => {
    it('validates the key authorization served at the token URL (trailing whitespace ignored), with the name as Host', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(`${keyAuth(token)}\r\n`));
      hostHeaders.length = 0;
      const outcome = await validateChallenge(httpTarget('www.example.test', token), options);
      expect(outcome).toEqual({ valid: true, validatedAt: expect.any(Date), addressesTried: ['127.0.0.1'] });
      expect(hostHeaders).toEqual(['www.example.test']);
    });

    it('a wrong body is incorrectResponse', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(200).end('not the key authorization'));
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), options), 'incorrectResponse', /not the key authorization/);
    });

    it('a 404 is unauthorized', async () => {
      expectProblem(await validateChallenge(httpTarget('www.example.test', newToken()), options), 'unauthorized', /HTTP 404/);
    });

    it('a refused port is connection', async () => {
      const outcome = await validateChallenge(httpTarget('www.example.test', newToken()), { ...options, http01Port: refusedPort });
      expectProblem(outcome, 'connection', /refused/);
    });

    it('a server that never answers is connection, within timeoutMs', async () => {
      const started = Date.now();
      const outcome = await validateChallenge(httpTarget('www.example.test', newToken()), { ...options, http01Port: silentPort, timeoutMs: 800 });
      expectProblem(outcome, 'connection', /timed out/);
      expect(Date.now() - started).toBeLessThan(800 + 500);
    });

    it('a server that trickles its headers (slowloris) is held to timeoutMs', async () => {
      const token = newToken();
      served.set(token, (_req, res) => {
        res.socket?.write('HTTP/1.1 200 OK\r\n');
        const timer = setInterval(() => res.socket?.write('X-Slow: 1\r\n'), 50);
        res.socket?.on('close', () => clearInterval(timer));
      });
      const started = Date.now();
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), { ...options, timeoutMs: 700 }), 'connection', /timed out/);
      expect(Date.now() - started).toBeLessThan(700 + 500);
    });

    it('an endless body is cut off and refused', async () => {
      const token = newToken();
      served.set(token, (_req, res) => {
        res.writeHead(200);
        const write = () => {
          while (res.write(Buffer.alloc(1024, 0x41)));
          res.once('drain', write);
        };
        write();
        res.on('close', () => res.removeAllListeners('drain'));
      });
      const started = Date.now();
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), options), 'incorrectResponse', /larger than 4096 bytes/);
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it('huge headers are a connection problem, not a hang', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(200, { 'X-Huge': 'a'.repeat(64 * 1024) }).end(keyAuth(token)));
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), options), 'connection', /headers too large/);
    });

    it('follows redirects to other names on the configured port, with their Host', async () => {
      const token = newToken();
      const hop = newToken();
      served.set(hop, (_req, res) => res.writeHead(302, { Location: `http://other.example.test:${httpPort}/.well-known/acme-challenge/${token}` }).end());
      served.set(token, (_req, res) => res.writeHead(200).end(keyAuth(hop)));
      hostHeaders.length = 0;
      const outcome = await validateChallenge(httpTarget('www.example.test', hop), options);
      expect(outcome.valid).toBe(true);
      expect(hostHeaders).toEqual(['www.example.test', `other.example.test:${httpPort}`]);
    });

    it('does not follow a redirect to another port', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(301, { Location: 'http://www.example.test:8081/elsewhere' }).end());
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), options), 'connection', /only ports 80 and \d+ are followed/);
    });

    it('stops after 10 redirects', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(302, { Location: `/.well-known/acme-challenge/${token}` }).end());
      expectProblem(await validateChallenge(httpTarget('www.example.test', token), options), 'connection', /more than 10 redirects/);
    });

    it('a name that does not resolve is dns', async () => {
      dns.setDefaultA(null);
      try {
        expectProblem(await validateChallenge(httpTarget('missing.example.test', newToken()), options), 'dns', /NXDOMAIN/);
      } finally {
        dns.setDefaultA('127.0.0.1');
      }
    });

    it('an IP identifier is fetched from the address itself', async () => {
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(200).end(keyAuth(token)));
      const outcome = await validateChallenge({ ...httpTarget('127.0.0.1', token), identifier: { type: 'ip', value: '127.0.0.1' } }, options);
      expect(outcome.valid).toBe(true);
    });

    it('falls back to the IPv6 address when the IPv4 one refuses', async () => {
      if (!httpV6) return;
      dns.setA('dual.example.test', ['127.0.0.2']); // nothing listens on 127.0.0.2:<port>
      dns.setAAAA('dual.example.test', ['::1']);
      const token = newToken();
      served.set(token, (_req, res) => res.writeHead(200).end(keyAuth(token)));
      const outcome = await validateChallenge(httpTarget('dual.example.test', token), options);
      expect(outcome).toEqual({ valid: true, validatedAt: expect.any(Date), addressesTried: ['127.0.0.2', '::1'] });
    });
  });

  describe('dns-01', () => {
    const dnsTarget = (name: string, token: string): ValidationTarget => ({ type: 'dns-01', identifier: { type: 'dns', value: name }, token, keyAuthorization: keyAuth(token) });

    it('validates the digest among the TXT records of _acme-challenge.<name> (wildcard stripped)', async () => {
      const token = newToken();
      dns.setTxt('_acme-challenge.www.example.test', ['some other value', keyAuthorizationDigest(keyAuth(token))]);
      expect((await validateChallenge(dnsTarget('www.example.test', token), options)).valid).toBe(true);
      expect((await validateChallenge(dnsTarget('*.www.example.test', token), options)).valid).toBe(true);
    });

    it('a wrong value is incorrectResponse', async () => {
      dns.setTxt('_acme-challenge.wrong.example.test', [keyAuthorizationDigest('something else')]);
      expectProblem(await validateChallenge(dnsTarget('wrong.example.test', newToken()), options), 'incorrectResponse', /incorrect TXT record/);
    });

    it('no record is dns', async () => {
      dns.clearTxt('_acme-challenge.none.example.test');
      expectProblem(await validateChallenge(dnsTarget('none.example.test', newToken()), options), 'dns', /no TXT record found at _acme-challenge.none.example.test/);
    });

    it('a resolver that never answers is dns, within timeoutMs', async () => {
      const port = (deafDns.address() as AddressInfo).port;
      const started = Date.now();
      const outcome = await validateChallenge(dnsTarget('www.example.test', newToken()), { ...options, resolver: `127.0.0.1:${port}`, timeoutMs: 600 });
      expectProblem(outcome, 'dns', /timed out/);
      expect(Date.now() - started).toBeLessThan(600 + 500);
    });

    it('refuses an IP identifier (RFC 8738)', async () => {
      const target: ValidationTarget = { ...dnsTarget('x', newToken()), identifier: { type: 'ip', value: '127.0.0.1' } };
      expectProblem(await validateChallenge(target, options), 'malformed');
    });
  });

  describe('tls-alpn-01', () => {
    const tlsTarget = (name: string, token: string): ValidationTarget => ({ type: 'tls-alpn-01', identifier: { type: 'dns', value: name }, token, keyAuthorization: keyAuth(token) });
    const serve = (servername: string, pem: { key: string; cert: string }) => contexts.set(servername, createSecureContext(pem));

    it('validates an RFC 8737 certificate, with the name as SNI', async () => {
      const token = newToken();
      serve('www.example.test', certificate('DNS:www.example.test', { keyAuthorization: keyAuth(token) }));
      sniSeen.length = 0;
      const outcome = await validateChallenge(tlsTarget('www.example.test', token), options);
      expect(outcome).toEqual({ valid: true, validatedAt: expect.any(Date), addressesTried: ['127.0.0.1'] });
      expect(sniSeen).toEqual(['www.example.test']);
    });

    it('a certificate without the acmeIdentifier extension is incorrectResponse', async () => {
      serve('noext.example.test', certificate('DNS:noext.example.test'));
      expectProblem(await validateChallenge(tlsTarget('noext.example.test', newToken()), options), 'incorrectResponse', /no acmeIdentifier extension/);
    });

    it('a digest of another key authorization is incorrectResponse', async () => {
      serve('digest.example.test', certificate('DNS:digest.example.test', { keyAuthorization: 'another' }));
      expectProblem(await validateChallenge(tlsTarget('digest.example.test', newToken()), options), 'incorrectResponse', /acmeIdentifier is/);
    });

    it('a non-critical acmeIdentifier extension is incorrectResponse', async () => {
      const token = newToken();
      serve('lax.example.test', certificate('DNS:lax.example.test', { keyAuthorization: keyAuth(token), critical: false }));
      expectProblem(await validateChallenge(tlsTarget('lax.example.test', token), options), 'incorrectResponse', /not critical/);
    });

    it('a second name in subjectAltName is incorrectResponse', async () => {
      const token = newToken();
      serve('two.example.test', certificate('DNS:two.example.test,DNS:extra.example.test', { keyAuthorization: keyAuth(token) }));
      expectProblem(await validateChallenge(tlsTarget('two.example.test', token), options), 'incorrectResponse', /exactly one dNSName/);
    });

    it('a server that does not speak acme-tls/1 is tls', async () => {
      const outcome = await validateChallenge(tlsTarget('www.example.test', newToken()), { ...options, tlsAlpn01Port: plainTlsPort });
      expectProblem(outcome, 'tls');
    });

    it('a refused port is connection; a silent one times out as connection', async () => {
      expectProblem(await validateChallenge(tlsTarget('www.example.test', newToken()), { ...options, tlsAlpn01Port: refusedPort }), 'connection', /refused/);
      const started = Date.now();
      expectProblem(await validateChallenge(tlsTarget('www.example.test', newToken()), { ...options, tlsAlpn01Port: silentPort, timeoutMs: 600 }), 'connection', /timed out/);
      expect(Date.now() - started).toBeLessThan(600 + 500);
    });

    it('an IP identifier is validated with the reverse-mapping name as SNI and an iPAddress SAN (RFC 8738)', async () => {
      const token = newToken();
      serve('1.0.0.127.in-addr.arpa', certificate('IP:127.0.0.1', { keyAuthorization: keyAuth(token) }));
      sniSeen.length = 0;
      const outcome = await validateChallenge({ ...tlsTarget('x', token), identifier: { type: 'ip', value: '127.0.0.1' } }, options);
      expect(outcome.valid).toBe(true);
      expect(sniSeen).toEqual(['1.0.0.127.in-addr.arpa']);
    });

    it('reverse-mapping names', () => {
      expect(reverseName('192.0.2.1')).toBe('1.2.0.192.in-addr.arpa');
      expect(reverseName('2001:db8::1')).toBe(`1.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.ip6.arpa`);
    });
  });

  describe('never throws', () => {
    it.each([
      ['an unknown challenge type', { type: 'tls-sni-01' }, 'malformed'],
      ['a token that is not base64url', { token: 'a/b/../c' }, 'malformed'],
      ['an invalid name', { identifier: { type: 'dns', value: 'bad name!' } }, 'malformed'],
      ['a wildcard with http-01', { identifier: { type: 'dns', value: '*.example.test' } }, 'malformed'],
      ['a key authorization of another token', { keyAuthorization: 'other.thumb' }, 'serverInternal'],
    ])('%s', async (_what, change, type) => {
      const token = newToken();
      const target = { ...httpTarget('www.example.test', token), ...change } as ValidationTarget;
      expectProblem(await validateChallenge(target, options), type);
    });

    it('bad options', async () => {
      expectProblem(await validateChallenge(httpTarget('www.example.test', newToken()), { ...options, timeoutMs: NaN }), 'serverInternal');
      expectProblem(await validateChallenge(httpTarget('www.example.test', newToken()), { ...options, resolver: 'a:b:c' }), 'serverInternal');
    });
  });
});
