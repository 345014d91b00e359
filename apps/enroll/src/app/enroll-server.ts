/**
 * The device side, TLS on ENROLL_PORT (API.md section 3): TLS 1.2/1.3 only, a client certificate
 * required. OpenSSL verifies it against the trust store; a connection whose certificate does not chain
 * to a policy-named CA is cut before any HTTP, and only an expired one is let through to be answered 403
 * client_certificate_expired, as API.md asks. The trust store follows policy changes: new handshakes get
 * the new context, open connections keep theirs.
 *
 * The handshake is run here, not by tls.Server's own connection listener: that one cannot both require a
 * certificate in the handshake and let an expired one through (its rejectUnauthorized sets both), so a
 * client without one met a TCP close. Here OpenSSL is told to require one (SSL_VERIFY_FAIL_IF_NO_PEER_CERT:
 * the `certificate_required` alert in TLS 1.3, `handshake_failure` in 1.2) and the verdict on the chain
 * is read after the handshake. An untrusted chain cannot get its `unknown_ca` alert from Node: its
 * OpenSSL verify callback accepts every chain and reports the error only once the handshake is done, so
 * such a connection is closed then, before any HTTP.
 *
 * Deadlines, each from its own start: the handshake (ENROLL_HANDSHAKE_TIMEOUT_MS, from the TCP accept,
 * however slowly the client sends) and a request's headers and body (ENROLL_REQUEST_TIMEOUT_MS, checked
 * every 1/20 of it, not Node's default 30 s). Every error answer, those of Node's HTTP parser included
 * (408, 431, 400), is API.md's JSON error shape.
 *
 *   POST /v1/enroll                      PEM, base64 DER (EST style) or JSON {csrPem}
 *   GET  /.well-known/est/cacerts        base64 PKCS#7 certs-only
 *   POST /.well-known/est/simpleenroll   base64 DER PKCS#10 -> base64 PKCS#7 certs-only
 *   POST /.well-known/est/simplereenroll
 */
import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { certificateJson } from '@signet/persistence';
import { ParsedCertificate, certsOnlyPkcs7, fingerprintSha256, fromPem, parseCertificate, toPem } from '@signet/pki';
import { REDIS, ServerIdentity, SignerClient, chooseRequestId, isStoreUnavailable, parserErrorAnswer, writeParserError } from '@signet/service';
import type Redis from 'ioredis';
import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Server, createServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { SecureContext, TLSSocket, createSecureContext } from 'node:tls';
import { DataSource } from 'typeorm';
import { ENROLL_CONFIG } from './enroll-config.token';
import type { EnrollConfig } from './enroll.config';
import { Device, EnrollError, Enrolled, EnrollmentService } from './enrollment.service';
import { enrollServerIdentity } from './server-identity';
import { RoundTrips } from './round-trips';
import { TrustStore } from './trust-store';
import { enrollments, handshakeFailureReason, handshakeFailures } from './enroll-metrics';

const EST = '/.well-known/est/';
/** Parsed client certificates kept (the oldest goes first). */
const PARSED_CACHE_SIZE = 10_000;


/** The chain verdict OpenSSL left on the connection (what tls.Server itself reads after a handshake). */
type VerifiedSocket = TLSSocket & { ssl?: { verifyError(): (Error & { code?: string }) | null } | null };

@Injectable()
export class EnrollServer implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(EnrollServer.name);
  private server: Server | null = null;
  private context: SecureContext | null = null;
  /** The response under way on each connection, so that a parser refusal (408) can use it. */
  private readonly inFlight = new WeakMap<Duplex, ServerResponse>();
  private identity: ServerIdentity | null = null;
  private readonly parsed = new Map<string, ParsedCertificate>();

  constructor(
    @Inject(ENROLL_CONFIG) private readonly config: EnrollConfig,
    @InjectDataSource() private readonly dataSource: DataSource,
    @Inject(REDIS) private readonly redis: Redis,
    private readonly trust: TrustStore,
    private readonly enrollment: EnrollmentService,
    private readonly signer: SignerClient,
  ) {}

  get port(): number {
    const address = this.server?.address();
    return typeof address === 'object' && address ? address.port : this.config.ENROLL_PORT;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.identity = await enrollServerIdentity(this.config, this.dataSource, this.signer, this.logger);
    this.context = this.secureContext();
    const timeout = this.config.ENROLL_REQUEST_TIMEOUT_MS;
    const server = createServer({
      requestTimeout: timeout,
      headersTimeout: timeout,
      // Node checks the request deadlines on this interval (30 s by default): 1/20 of the deadline.
      connectionsCheckingInterval: Math.max(10, Math.min(1000, Math.floor(timeout / 20))),
      keepAliveTimeout: 5000,
      // Node's own 400 for HTTP/1.1 without Host has no body; enroll needs no Host.
      requireHostHeader: false,
    }, (req, res) => void this.handle(req, res));
    server.maxConnections = this.config.ENROLL_MAX_CONNECTIONS;
    // The handshake is ours (see the top of the file): tls.Server's own listener goes.
    for (const listener of server.listeners('connection')) server.removeListener('connection', listener as (...args: unknown[]) => void);
    server.on('connection', (raw: Socket) => this.handshake(server, raw));
    server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => this.refuseRequest(socket, error));
    this.trust.onChange(() => {
      this.context = this.secureContext();
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.ENROLL_PORT, '0.0.0.0', () => resolve());
    });
    this.logger.log({ port: this.port, certificate: this.identity.source }, 'enroll server listening (mTLS)');
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => {
        server.closeAllConnections();
        resolve();
      }, 5000).unref();
    });
  }

  /**
   * One TLS connection: OpenSSL requires a client certificate in the handshake, which must end within
   * ENROLL_HANDSHAKE_TIMEOUT_MS of the accept; then admitsSocket decides, and HTTP starts.
   */
  private handshake(server: Server, raw: Socket): void {
    const socket: VerifiedSocket = new TLSSocket(raw, {
      isServer: true,
      server,
      secureContext: this.context!,
      requestCert: true,
      // Makes OpenSSL refuse a handshake without a certificate; the chain's verdict is read below.
      rejectUnauthorized: true,
    });
    // Counted once, and only while the handshake is under way (later errors are the connection's).
    let handshaking = true;
    const failed = (reason: string) => handshaking && ((handshaking = false), handshakeFailures.inc({ reason }));
    const deadline = setTimeout(() => (failed('timeout'), socket.destroy()), this.config.ENROLL_HANDSHAKE_TIMEOUT_MS);
    deadline.unref();
    socket.on('error', (error: Error & { code?: string }) => (failed(handshakeFailureReason(error)), socket.destroy()));
    socket.once('close', () => clearTimeout(deadline));
    socket.once('secure', () => {
      clearTimeout(deadline);
      const verifyError = socket.ssl?.verifyError() ?? null;
      if (!this.admitsSocket(socket, verifyError)) return void (failed('untrusted_issuer'), socket.destroy());
      handshaking = false;
      socket.authorized = !verifyError;
      server.emit('secureConnection', socket);
    });
  }

  /**
   * OpenSSL accepted the chain (or found it only expired: OpenSSL reports one error, so an expired
   * certificate may hide others, and is checked here like any other); the certificate must also be
   * signed by a CA a policy names, not by one that is in the context only as a link of some chain (see
   * TrustStore). Never throws: this runs in an event listener, before any request exists.
   */
  private admitsSocket(socket: TLSSocket, verifyError: (Error & { code?: string }) | null): boolean {
    try {
      const expiredOnly = verifyError?.code === 'CERT_HAS_EXPIRED';
      const raw = (!verifyError || expiredOnly) && socket.getPeerX509Certificate()?.raw;
      return !!raw && !!this.trust.namedIssuerOf(this.clientCertificate(raw));
    } catch {
      return false;
    }
  }

  /**
   * Node's HTTP parser gave up on a request (deadline, headers too large, malformed): the API.md error
   * on the response under way if it has not started, or on the bare connection; then the connection
   * ends (what the client still sends is read for LINGER_MS, so the answer is not lost to a reset).
   */
  private refuseRequest(socket: Duplex, error: Error & { code?: string }): void {
    const res = this.inFlight.get(socket);
    if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || !socket.writable || res?.headersSent) return void socket.destroy();
    const requestId = String(res?.getHeader('X-Request-Id') ?? randomUUID());
    if (!res) return writeParserError(socket, error, requestId);
    // Headers arrived, the body did not: the handler still waits for it, and finds the answer given.
    const { status, body } = parserErrorAnswer(error, requestId);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), Connection: 'close' });
    res.end(body);
  }

  private secureContext(): SecureContext {
    // A session id context, as tls.Server sets one: OpenSSL refuses to resume a session of a server that
    // verifies client certificates without it (an internal_error alert). A new context (trust changed)
    // has new ticket keys, so sessions of the old trust are not resumed.
    return createSecureContext({ ...this.secureContextOptions(), minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', sessionIdContext: 'signet-enroll' });
  }

  private secureContextOptions() {
    const anchors = this.trust.anchorPems();
    return {
      cert: this.identity!.certPem,
      key: this.identity!.keyPem,
      // Never the system roots: an empty trust store trusts nobody (no policy yet).
      ca: anchors.length ? anchors : [this.identity!.certPem.split('-----END CERTIFICATE-----')[0] + '-----END CERTIFICATE-----\n'],
    };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = chooseRequestId(req);
    res.setHeader('X-Request-Id', requestId);
    this.inFlight.set(req.socket, res);
    res.once('finish', () => this.inFlight.get(req.socket) === res && this.inFlight.delete(req.socket));
    const path = (req.url ?? '/').split('?')[0];
    const enrollPath = path === '/v1/enroll' || path === `${EST}simpleenroll` || path === `${EST}simplereenroll`;
    try {
      const socket = req.socket as TLSSocket;
      const raw = socket.getPeerX509Certificate()?.raw;
      if (!raw) throw new EnrollError(401, 'unauthorized', 'a client certificate is required');
      const device: Device = { certificate: this.clientCertificate(raw), ip: socket.remoteAddress?.replace(/^::ffff:/, '') ?? null };
      if (req.method === 'GET' && path === `${EST}cacerts`) {
        const chain = await this.enrollment.caCertificates(device, path);
        return this.sendPkcs7(res, chain.map((pem) => fromPem(pem, ['CERTIFICATE']).der));
      }
      if (!enrollPath) throw new EnrollError(404, 'not_found', `no route ${req.method} ${path}`);
      // No 405 in API.md's codes: a method a path does not take is a route that does not exist.
      if (req.method !== 'POST') throw new EnrollError(404, 'not_found', `no route ${req.method} ${path} (it takes POST)`);
      await this.rateLimit(device);
      const body = await this.readBody(req);
      const est = path.startsWith(EST);
      const csrPem = csrFromBody(req.headers['content-type'] ?? '', body, est);
      const enrolled = await this.enrollment.enroll(device, csrPem, path, path.endsWith('simplereenroll') ? 'reenroll' : 'enroll');
      enrollments.inc({ outcome: 'issued' });
      if (est) return this.sendPkcs7(res, [enrolled.row.certificateDer], 200);
      return this.sendEnrolled(req, res, enrolled);
    } catch (error) {
      // PostgreSQL or Redis away (a restart, a fail-over): 503 the device may retry, never a 500.
      const e = error instanceof EnrollError
        ? error
        : isStoreUnavailable(error) ? new EnrollError(503, 'service_unavailable', 'a data store is unavailable; retry the request', {}, { retryable: true }) : null;
      if (!e) this.logger.error({ err: (error as Error).message, path }, 'enrollment failed');
      const status = e?.status ?? 500;
      if (enrollPath) enrollments.inc({ outcome: e?.code ?? 'internal' });
      if (res.headersSent || res.writableEnded) return; // already answered (a deadline passed meanwhile)
      res.writeHead(status, { 'Content-Type': 'application/json', ...(e?.headers ?? {}) });
      res.end(JSON.stringify({ error: e?.message ?? 'internal error', code: e?.code ?? 'internal', status, details: e?.details ?? {}, requestId }));
    }
  }

  private sendEnrolled(req: IncomingMessage, res: ServerResponse, enrolled: Enrolled): void {
    const certificatePem = toPem('CERTIFICATE', enrolled.row.certificateDer);
    const chainPem = enrolled.chainPems.join('');
    if (/application\/x-pem-file/.test(req.headers.accept ?? '')) {
      res.writeHead(201, { 'Content-Type': 'application/x-pem-file' });
      return void res.end(certificatePem + chainPem);
    }
    const certificate = certificateJson(enrolled.row);
    res.writeHead(201, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ certificate, certificatePem, chainPem }));
  }

  /** RFC 7030 4.1.3 / 4.2.3: application/pkcs7-mime, base64 of a certs-only SignedData. */
  private sendPkcs7(res: ServerResponse, certificates: Buffer[], status = 200): void {
    res.writeHead(status, { 'Content-Type': 'application/pkcs7-mime; smime-type=certs-only', 'Content-Transfer-Encoding': 'base64' });
    res.end(certsOnlyPkcs7(certificates).toString('base64').replace(/.{64}/g, '$&\r\n') + '\r\n');
  }

  /**
   * The parsed client certificate, by its DER: a device enrolling again (or a fleet behind one bootstrap
   * certificate) is parsed once. Parsing is a pure function of the bytes; the checks that can change
   * (expiry, revocation, trust) are made on every request.
   */
  private clientCertificate(raw: Buffer): ParsedCertificate {
    const fingerprint = fingerprintSha256(raw);
    let certificate = this.parsed.get(fingerprint);
    if (!certificate) {
      certificate = parseCertificate(raw);
      if (this.parsed.size >= PARSED_CACHE_SIZE) this.parsed.delete(this.parsed.keys().next().value as string);
      this.parsed.set(fingerprint, certificate);
    }
    return certificate;
  }

  /**
   * ENROLL_RATE_LIMIT enrollments per client certificate and minute, shared by every enroll replica: one
   * Redis pipeline for the enrollments that arrive while the previous one is out (see RoundTrips).
   */
  private readonly counters = new RoundTrips<string, number>(async (keys) => {
    const repeats = new Map<string, number>();
    for (const key of keys) repeats.set(key, (repeats.get(key) ?? 0) + 1);
    const pipeline = this.redis.pipeline();
    for (const [key, n] of repeats) pipeline.incrby(key, n).expire(key, 120);
    const results = (await pipeline.exec()) ?? [];
    const totals = new Map([...repeats.keys()].map((key, i) => {
      const [error, total] = results[2 * i] ?? [new Error('no answer from Redis')];
      if (error) throw error;
      return [key, Number(total)];
    }));
    // Each request gets its own count, as if it had incremented alone (in arrival order).
    const seen = new Map<string, number>();
    return keys.map((key) => {
      const before = seen.get(key) ?? 0;
      seen.set(key, before + 1);
      return totals.get(key)! - repeats.get(key)! + before + 1;
    });
  });

  private async rateLimit(device: Device): Promise<void> {
    const window = Math.floor(Date.now() / 60_000);
    const key = `${this.config.QUEUE_PREFIX}:enroll:rate:${device.certificate.fingerprintSha256}:${window}`;
    const count = await this.counters.get(key);
    if (count > this.config.ENROLL_RATE_LIMIT) {
      const retryAfter = String((window + 1) * 60 - Math.floor(Date.now() / 1000));
      throw new EnrollError(429, 'rate_limited', `more than ${this.config.ENROLL_RATE_LIMIT} enrollments a minute for this client certificate`, { 'Retry-After': retryAfter });
    }
  }

  /**
   * The body, at most ENROLL_BODY_LIMIT_BYTES. Past it (declared or, chunked, counted) the answer is 413
   * at once, and the rest is read and dropped rather than the connection reset under the client's upload,
   * which would lose the answer; ENROLL_REQUEST_TIMEOUT_MS still bounds how long that goes on.
   */
  private readBody(req: IncomingMessage): Promise<Buffer> {
    const limit = this.config.ENROLL_BODY_LIMIT_BYTES;
    return new Promise((resolve, reject) => {
      const tooLarge = () => new EnrollError(413, 'payload_too_large', `the body is larger than ${limit} bytes`, {}, { limitBytes: limit });
      const declared = Number(req.headers['content-length'] ?? 0);
      if (declared > limit) {
        req.resume();
        return reject(tooLarge());
      }
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        if (size > limit) return; // refused already: drained, not kept
        size += chunk.length;
        if (size > limit) {
          chunks.length = 0;
          return reject(tooLarge());
        }
        chunks.push(chunk);
      });
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
    });
  }
}

/**
 * The CSR in each body form API.md names: PEM (application/x-pem-file or application/pkcs10), base64
 * DER (application/pkcs10, as EST sends it) or JSON {csrPem}. Returned as PEM for the signing lib.
 */
export function csrFromBody(contentType: string, body: Buffer, est: boolean): string {
  const type = contentType.split(';')[0].trim().toLowerCase();
  const text = body.toString('utf8');
  if (!body.length) throw new EnrollError(400, 'validation_failed', 'the body is empty: send a PKCS#10 CSR');
  if (type === 'application/json' && !est) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new EnrollError(400, 'bad_request', 'the body is not valid JSON');
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw new EnrollError(400, 'validation_failed', 'the JSON body must be an object {csrPem}');
    const unknown = Object.keys(parsed).filter((key) => key !== 'csrPem');
    if (unknown.length) throw new EnrollError(400, 'validation_failed', `unknown fields: ${unknown.slice(0, 10).join(', ')}`);
    const csrPem = (parsed as { csrPem?: unknown }).csrPem;
    if (typeof csrPem !== 'string' || !csrPem) throw new EnrollError(400, 'validation_failed', 'csrPem must be a PEM string');
    return csrPem;
  }
  if (type === 'application/pkcs10' || type === 'application/x-pem-file' || (est && type === '')) {
    if (text.includes('-----BEGIN')) return text;
    const base64 = text.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new EnrollError(400, 'validation_failed', 'the body is neither PEM nor base64 DER');
    return toPem('CERTIFICATE REQUEST', Buffer.from(base64, 'base64'));
  }
  throw new EnrollError(415, 'unsupported_media_type', `send application/pkcs10, application/x-pem-file${est ? '' : ' or application/json'}`);
}
