/**
 * Requests Node's HTTP parser refuses before any handler runs (headers too large, malformed HTTP, a
 * request that did not arrive in time): answered in API.md's error shape, as every other refusal is,
 * instead of Node's bare status line. Installed on the gateway's server (createHttpApp) and used by the
 * enroll server's own handler.
 */
import type { Server } from 'node:http';
import { STATUS_CODES } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { Duplex } from 'node:stream';

/** Parser refusals by Node's error code (408 and 431 are not in API.md's list: codes of their own); anything else is 400 bad_request. */
export const PARSER_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request (headers and body) did not arrive in time' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'request_header_fields_too_large', message: 'the request headers are too large' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { status: 413, code: 'payload_too_large', message: 'the chunk extensions are too large' },
};

/** How long a refused connection may still send what it was sending before it is cut. */
const LINGER_MS = 1000;

/** The status and JSON body of a parser refusal. */
export function parserErrorAnswer(error: Error & { code?: string }, requestId: string = randomUUID()): { status: number; body: string } {
  const known = PARSER_ERRORS[error.code ?? ''];
  const status = known?.status ?? 400;
  const body = JSON.stringify({ error: known?.message ?? 'the request is not valid HTTP/1.1', code: known?.code ?? 'bad_request', status, details: {}, requestId });
  return { status, body };
}

/** Write a parser refusal on a socket no response object owns, then close it (reading out what is left). */
export function writeParserError(socket: Duplex, error: Error & { code?: string }, requestId: string = randomUUID()): void {
  if (error.code === 'ECONNRESET' || error.code === 'EPIPE' || !socket.writable) return void socket.destroy();
  const { status, body } = parserErrorAnswer(error, requestId);
  socket.write(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
  );
  socket.end();
  socket.resume();
  setTimeout(() => socket.destroy(), LINGER_MS).unref();
}

/** Answer the server's parser refusals in the API's error shape. */
export function answerParserErrors(server: Server): void {
  server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => writeParserError(socket, error));
}
