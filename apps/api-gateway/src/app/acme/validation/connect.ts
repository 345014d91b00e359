/**
 * Connecting to a validation target: which of its addresses to try, and what a socket error means
 * as an ACME problem.
 */
import { isIP } from 'node:net';
import { Deadline } from './deadline';
import { ValidationFailure } from './validation-types';

/** The host as a URL or Host header writes it: IPv6 in brackets. */
export const hostForUrl = (host: string): string => (isIP(host) === 6 ? `[${host}]` : host);

/**
 * Try the first IPv4 and then the first IPv6 address (as Boulder does, at most one of each), moving
 * on only when the connection itself failed: a wrong answer from a reachable address is the answer.
 * While another address is left, an attempt gets half the remaining time, so a black-holed address
 * cannot use up the whole attempt.
 */
export async function tryAddresses<T>(
  addresses: string[],
  deadline: Deadline,
  attempt: (address: string, budgetMs: number) => Promise<T>,
): Promise<{ result: T; tried: string[] }> {
  const v4 = addresses.find((a) => isIP(a) === 4);
  const v6 = addresses.find((a) => isIP(a) === 6);
  const candidates = [v4, v6].filter((a): a is string => a !== undefined);
  const tried: string[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const address = candidates[i];
    tried.push(address);
    const last = i === candidates.length - 1;
    const budgetMs = last ? deadline.remaining() : Math.floor(deadline.remaining() / 2);
    try {
      return { result: await attempt(address, budgetMs), tried };
    } catch (error) {
      const connectionFailed = error instanceof ValidationFailure && error.kind === 'connection';
      if (last || !connectionFailed || deadline.remaining() <= 0) throw error;
    }
  }
  throw new ValidationFailure('dns', 'no address to connect to');
}

const CONNECTION_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset by peer',
  ECONNABORTED: 'connection aborted',
  EPIPE: 'connection closed by peer',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EHOSTDOWN: 'host down',
  EADDRNOTAVAIL: 'address not available',
};

/** A socket, TLS or HTTP-parser error from talking to `where`, as the ACME problem it is. */
export function networkFailure(error: unknown, where: string): ValidationFailure {
  if (error instanceof ValidationFailure) return error;
  const code = String((error as { code?: string })?.code ?? '');
  const message = String((error as Error)?.message ?? error);
  if (CONNECTION_ERRORS[code]) return new ValidationFailure('connection', `${where}: ${CONNECTION_ERRORS[code]}`);
  if (code === 'HPE_HEADER_OVERFLOW') return new ValidationFailure('connection', `${where}: response headers too large`);
  if (code.startsWith('HPE_')) return new ValidationFailure('connection', `${where}: malformed HTTP response (${code})`);
  if (code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_') || code === 'EPROTO' || /SSL|TLS/.test(message)) {
    return new ValidationFailure('tls', `${where}: TLS handshake failed (${code || message})`);
  }
  return new ValidationFailure('connection', `${where}: ${code || message}`);
}
