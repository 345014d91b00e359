/**
 * One DNS exchange with one server: over UDP, sent again after 1, 2, 4 ... s without an answer, and over
 * TCP (RFC 1035 4.2.2: a 16-bit length before each message) when the UDP answer is truncated or when
 * asked. Only an answer from that server with the request's ID counts; everything within `signal`'s time.
 */
import { createSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP, createConnection } from 'node:net';

export interface DnsServer {
  host: string;
  port: number;
}

const FIRST_RETRY_MS = 1_000;
const MAX_TCP_MESSAGE = 65_535;
const FLAG_TC = 0x0200;

/** `host:port`, `[v6]:port`, `v6` or `host` (port 53); null when it is none of these. */
export function parseNameserver(text: string): DnsServer | null {
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::(\d{1,5}))?$/.exec(text);
  const [host, port] = bracketed ? [bracketed[1], bracketed[2]] : isIP(text) === 6 ? [text, undefined] : text.split(/:(?=\d+$)/);
  const portNumber = port === undefined ? 53 : Number(port);
  if (!host || (bracketed && isIP(host) !== 6) || !Number.isInteger(portNumber) || portNumber < 1 || portNumber > 65_535) return null;
  if (!isIP(host) && !/^(?!-)[a-zA-Z0-9-]{1,63}(?<!-)(\.(?!-)[a-zA-Z0-9-]{1,63}(?<!-))*\.?$/.test(host)) return null;
  return { host, port: portNumber };
}

export const formatServer = (server: DnsServer): string => (isIP(server.host) === 6 ? `[${server.host}]:${server.port}` : `${server.host}:${server.port}`);

function aborted(server: DnsServer): Error {
  return new Error(`no answer from ${formatServer(server)} in time`);
}

async function address(server: DnsServer): Promise<{ ip: string; family: 4 | 6 }> {
  if (isIP(server.host)) return { ip: server.host, family: isIP(server.host) as 4 | 6 };
  const found = await lookup(server.host);
  return { ip: found.address, family: found.family as 4 | 6 };
}

function overUdp(server: DnsServer, ip: string, family: 4 | 6, message: Buffer, signal: AbortSignal): Promise<Buffer> {
  const id = message.readUInt16BE(0);
  return new Promise((resolve, reject) => {
    const socket = createSocket(family === 6 ? 'udp6' : 'udp4');
    let retry: NodeJS.Timeout | undefined;
    const finish = (error: Error | null, answer?: Buffer): void => {
      clearTimeout(retry);
      signal.removeEventListener('abort', onAbort);
      socket.close();
      if (error) reject(error);
      else resolve(answer as Buffer);
    };
    const onAbort = (): void => finish(aborted(server));
    if (signal.aborted) return reject(aborted(server));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(new Error(`${formatServer(server)} over UDP: ${error.code ?? error.message}`)));
    socket.on('message', (answer) => {
      if (answer.length >= 12 && answer.readUInt16BE(0) === id) finish(null, answer);
    });
    const send = (wait: number): void => {
      socket.send(message, (error) => {
        if (error) finish(new Error(`${formatServer(server)} over UDP: ${(error as NodeJS.ErrnoException).code ?? error.message}`));
      });
      retry = setTimeout(() => send(2 * wait), wait);
    };
    // Connected: only that server's datagrams arrive, and a closed port is reported (ECONNREFUSED).
    socket.connect(server.port, ip, () => send(FIRST_RETRY_MS));
  });
}

function overTcp(server: DnsServer, ip: string, message: Buffer, signal: AbortSignal): Promise<Buffer> {
  const id = message.readUInt16BE(0);
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(aborted(server));
    const socket = createConnection({ host: ip, port: server.port });
    let received = Buffer.alloc(0);
    const finish = (error: Error | null, answer?: Buffer): void => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      if (error) reject(error);
      else resolve(answer as Buffer);
    };
    const onAbort = (): void => finish(aborted(server));
    signal.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk) => {
      received = Buffer.concat([received, chunk]);
      while (received.length >= 2 && received.length >= 2 + received.readUInt16BE(0)) {
        const answer = received.subarray(2, 2 + received.readUInt16BE(0));
        received = received.subarray(2 + answer.length);
        if (answer.length >= 12 && answer.readUInt16BE(0) === id) return finish(null, Buffer.from(answer));
      }
      if (received.length > MAX_TCP_MESSAGE + 2) finish(new Error(`${formatServer(server)} over TCP: an answer longer than DNS allows`));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => finish(new Error(`${formatServer(server)} over TCP: ${error.code ?? error.message}`)));
    socket.on('end', () => finish(new Error(`${formatServer(server)} over TCP: the connection closed without an answer`)));
  });
}

/** The server's answer to `message` (raw); UDP first unless `tcp`, TCP again when the UDP answer is truncated. */
export async function exchange(server: DnsServer, message: Buffer, signal: AbortSignal, options: { tcp?: boolean } = {}): Promise<Buffer> {
  const { ip, family } = await address(server);
  if (!options.tcp) {
    const answer = await overUdp(server, ip, family, message, signal);
    if ((answer.readUInt16BE(2) & FLAG_TC) === 0) return answer;
  }
  return overTcp(server, ip, message, signal);
}
