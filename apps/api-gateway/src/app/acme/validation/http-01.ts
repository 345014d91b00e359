/**
 * http-01 (RFC 8555 section 8.3): GET `http://<name>:<ACME_HTTP01_PORT>/.well-known/acme-challenge/<token>`
 * from the name's own address, and compare the body (trailing whitespace ignored) with the key
 * authorization. Redirects are followed, at most 10, to http on port 80 (or the configured port) and
 * to https on port 443, with any certificate accepted on https (Let's Encrypt does the same: the
 * challenge proves control of the name, not a trusted certificate).
 *
 * A hostile target is held to the attempt's deadline: headers over 8 KiB end the request, a body
 * is read to at most 4 KiB, and every request is destroyed when its time is up.
 */
import { ClientRequest, IncomingMessage, request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { hostForUrl, networkFailure, tryAddresses } from './connect';
import { Deadline, bounded } from './deadline';
import { ResolverServers, resolveAddresses } from './name-resolution';
import { ValidationFailure, ValidatorSuccess, ValidationTarget, quote } from './validation-types';

export const MAX_REDIRECTS = 10;
export const MAX_BODY_BYTES = 4096;
export const MAX_HEADER_BYTES = 8192;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = 'Signet-ACME-validation/1';

interface HttpAnswer {
  status: number;
  location?: string;
  body?: Buffer;
}

interface HttpAttempt {
  url: URL;
  /** The address to connect to (the URL's host already resolved). */
  address: string;
  hostHeader: string;
  budgetMs: number;
}

/** One GET on one address: status, Location of a redirect, the body of a 200 (bounded). */
function get(attempt: HttpAttempt, deadline: Deadline): Promise<HttpAnswer> {
  const { url, address, hostHeader } = attempt;
  const https = url.protocol === 'https:';
  const where = `${url.href} (${address})`;
  return bounded<HttpAnswer>(deadline, { budgetMs: attempt.budgetMs, kind: 'connection', detail: `${where}: timed out` }, (resolve, reject) => {
    const options = {
      host: address,
      port: Number(url.port) || (https ? 443 : 80),
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { Host: hostHeader, 'User-Agent': USER_AGENT, Accept: '*/*', Connection: 'close' },
      agent: false as const,
      maxHeaderSize: MAX_HEADER_BYTES,
    };
    const fail = (error: unknown) => reject(networkFailure(error, where));
    const onResponse = (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status !== 200) {
        const location = response.headers.location;
        return resolve({ status, location: typeof location === 'string' ? location : undefined });
      }
      const chunks: Buffer[] = [];
      let length = 0;
      response.on('data', (chunk: Buffer) => {
        length += chunk.length;
        if (length > MAX_BODY_BYTES) {
          return reject(new ValidationFailure('incorrectResponse', `${where}: the response body is larger than ${MAX_BODY_BYTES} bytes`));
        }
        chunks.push(chunk);
      });
      response.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
      response.on('close', () => {
        if (!response.complete) fail(Object.assign(new Error('connection closed before the body was complete'), { code: 'ECONNRESET' }));
      });
      response.on('error', fail);
    };
    const req: ClientRequest = https
      ? httpsRequest({ ...options, servername: isIP(url.hostname.replace(/^\[|\]$/g, '')) ? undefined : url.hostname, rejectUnauthorized: false }, onResponse)
      : httpRequest(options, onResponse);
    req.on('error', fail);
    req.end();
    return () => req.destroy();
  });
}

/** Is a redirect to `next` one RFC 8555 section 10.2 lets the server follow? */
function checkRedirect(next: URL, http01Port: number): void {
  const port = Number(next.port) || (next.protocol === 'https:' ? 443 : 80);
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new ValidationFailure('connection', `redirect to ${quote(next.href)}: only http and https redirects are followed`);
  }
  const allowed = next.protocol === 'https:' ? [443] : [80, http01Port];
  if (!allowed.includes(port)) {
    throw new ValidationFailure('connection', `redirect to ${quote(next.href)}: only ports ${allowed.join(' and ')} are followed for ${next.protocol.slice(0, -1)}`);
  }
  if (next.username || next.password) throw new ValidationFailure('connection', `redirect to ${quote(next.href)}: URLs with credentials are not followed`);
}

export async function validateHttp01(
  target: ValidationTarget,
  name: string,
  http01Port: number,
  servers: ResolverServers,
  deadline: Deadline,
): Promise<ValidatorSuccess> {
  let url = new URL(`http://${hostForUrl(name)}:${http01Port}/.well-known/acme-challenge/${target.token}`);
  // The first request names the identifier alone, as Let's Encrypt's does; redirects name their URL's host.
  let hostHeader = hostForUrl(name);
  const addressesTried: string[] = [];
  for (let redirects = 0; ; redirects++) {
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const addresses = isIP(host) ? [host] : await resolveAddresses(host, servers, deadline);
    const { result: answer, tried } = await tryAddresses(addresses, deadline, (address, budgetMs) =>
      get({ url, address, hostHeader, budgetMs }, deadline),
    );
    addressesTried.push(...tried);

    if (REDIRECT_STATUSES.has(answer.status) && answer.location !== undefined) {
      if (redirects >= MAX_REDIRECTS) throw new ValidationFailure('connection', `${url.href}: more than ${MAX_REDIRECTS} redirects`);
      let next: URL;
      try {
        next = new URL(answer.location, url);
      } catch {
        throw new ValidationFailure('connection', `${url.href}: redirect to an invalid URL ${quote(answer.location)}`);
      }
      checkRedirect(next, http01Port);
      url = next;
      hostHeader = next.host;
      continue;
    }
    if (answer.status !== 200) throw new ValidationFailure('unauthorized', `${url.href}: invalid response: HTTP ${answer.status}`);

    const body = (answer.body ?? Buffer.alloc(0)).toString('utf8').replace(/[ \t\r\n]+$/, '');
    if (body !== target.keyAuthorization) {
      throw new ValidationFailure(
        'incorrectResponse',
        `${url.href}: the key authorization file does not match this challenge: expected ${quote(target.keyAuthorization, 128)}, got ${quote(body)}`,
      );
    }
    return { addressesTried };
  }
}
