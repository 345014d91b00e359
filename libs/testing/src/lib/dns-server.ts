/**
 * A small authoritative DNS server for tests, on a loopback port (UDP and TCP on the same port): the
 * names an ACME test validates (`www.example.test`, `_acme-challenge.www.example.test`) resolve here
 * and nowhere else, so a test controls what the ACME server sees and real ACME clients (lego with
 * `--dns.resolvers 127.0.0.1:<port>`) can query it directly.
 *
 * Answers as a standard authoritative server does (RFC 1034/1035, RFC 2308): the question echoed,
 * AA set, RD copied; the records asked for, NOERROR with no answers when the name has other records
 * (or is an empty non-terminal), NXDOMAIN when it has none; the zone's SOA in the authority section of
 * negative answers and as the answer to an SOA query at the apex (what lego and certbot walk up to in
 * order to find the zone), NS at the apex; REFUSED for names outside the zone that have no records.
 * EDNS(0) is echoed; an answer too large for the client's UDP size is truncated (TC), and the client
 * repeats the query over TCP.
 */
import { createSocket, RemoteInfo, Socket as UdpSocket } from 'node:dgram';
import { createServer, isIP, Server as TcpServer, Socket as TcpSocket } from 'node:net';
import * as dnsPacket from 'dns-packet';

export interface TestDnsServer {
  /** `127.0.0.1:<port>`, as ACME_DNS_RESOLVER and lego's --dns.resolvers take it. */
  address: string;
  port: number;
  /** The zone this server is authoritative for (default `test`). */
  zone: string;
  /** A records of `name` (replacing any); an empty list removes them. */
  setA(name: string, ips: string[]): void;
  /** AAAA records of `name` (replacing any); an empty list removes them. */
  setAAAA(name: string, ips: string[]): void;
  /** TXT records of `name` (replacing any), one record a value; values longer than 255 bytes are split into strings. */
  setTxt(name: string, values: string[]): void;
  clearTxt(name: string): void;
  /** Every name in the zone without A records of its own answers A with `ip`; null turns it off. */
  setDefaultA(ip: string | null): void;
  /** The questions asked so far, oldest first (lowercased name, type), for tests that assert on lookups. */
  queries: Array<{ name: string; type: string; transport: 'udp' | 'tcp' }>;
  close(): Promise<void>;
}

export interface DnsServerOptions {
  /** The zone apex (default `test`, the RFC 2606 TLD: `www.example.test` is in it). */
  zone?: string;
  /** TTL of every answer, seconds (default 0: tests change records between lookups). */
  ttl?: number;
}

type RecordSets = { A: string[]; AAAA: string[]; TXT: string[] };

const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5 } as const;
const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const CLASSIC_UDP_SIZE = 512;
const MAX_TCP_BUFFER = 65_537;

const canonical = (name: string): string => name.toLowerCase().replace(/\.$/, '');

/** Is `name` the apex or below it? */
const within = (name: string, apex: string): boolean => name === apex || name.endsWith(`.${apex}`);

/** TXT strings are at most 255 bytes each (RFC 1035 3.3.14): longer values become several strings of one record. */
function txtStrings(value: string): Buffer[] {
  const bytes = Buffer.from(value, 'utf8');
  if (bytes.length === 0) return [Buffer.alloc(0)];
  const out: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += 255) out.push(bytes.subarray(at, at + 255));
  return out;
}

export async function startDnsServer(options: DnsServerOptions = {}): Promise<TestDnsServer> {
  const zone = canonical(options.zone ?? 'test');
  const ttl = options.ttl ?? 0;
  const records = new Map<string, RecordSets>();
  let defaultA: string | null = null;
  const queries: TestDnsServer['queries'] = [];

  const soa: dnsPacket.Answer = {
    type: 'SOA',
    name: zone,
    ttl,
    data: { mname: `ns.${zone}`, rname: `hostmaster.${zone}`, serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: ttl },
  };
  const ns: dnsPacket.Answer = { type: 'NS', name: zone, ttl, data: `ns.${zone}` };

  const setsOf = (name: string): RecordSets => {
    const key = canonical(name);
    let sets = records.get(key);
    if (!sets) records.set(key, (sets = { A: [], AAAA: [], TXT: [] }));
    return sets;
  };
  const checkIps = (ips: string[], family: 4 | 6) => {
    for (const ip of ips) if (isIP(ip) !== family) throw new Error(`not an IPv${family} address: ${ip}`);
  };

  /** Does the name exist: records of its own, a name below it (empty non-terminal), the apex, or the default A? */
  const exists = (name: string): boolean => {
    if (name === zone || (defaultA !== null && within(name, zone))) return true;
    for (const [owner, sets] of records) {
      if (!sets.A.length && !sets.AAAA.length && !sets.TXT.length) continue;
      if (owner === name || owner.endsWith(`.${name}`)) return true;
    }
    return false;
  };

  function answersFor(qname: string, name: string, type: string): dnsPacket.Answer[] {
    const sets = records.get(name);
    const out: dnsPacket.Answer[] = [];
    const wants = (t: string) => type === t || type === 'ANY';
    if (wants('A')) {
      const ips = sets?.A.length ? sets.A : defaultA !== null && within(name, zone) ? [defaultA] : [];
      for (const ip of ips) out.push({ type: 'A', name: qname, ttl, data: ip });
    }
    if (wants('AAAA')) for (const ip of sets?.AAAA ?? []) out.push({ type: 'AAAA', name: qname, ttl, data: ip });
    if (wants('TXT')) for (const value of sets?.TXT ?? []) out.push({ type: 'TXT', name: qname, ttl, data: txtStrings(value) });
    if (name === zone && wants('SOA')) out.push({ ...soa, name: qname });
    if (name === zone && wants('NS')) out.push({ ...ns, name: qname } as dnsPacket.Answer);
    return out;
  }

  /** The response to one query message, or null for a message that does not even carry a header. */
  function respond(message: Buffer, transport: 'udp' | 'tcp'): { packet: dnsPacket.Packet; udpSize: number } | null {
    if (message.length < 12) return null;
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      const id = message.readUInt16BE(0);
      return { packet: { type: 'response', id, flags: FLAG_QR | RCODE.FORMERR }, udpSize: CLASSIC_UDP_SIZE };
    }
    if (query.flag_qr) return null;
    const rd = (query.flags ?? 0) & FLAG_RD;
    const opt = (query.additionals ?? []).find((a): a is dnsPacket.OptAnswer => a.type === 'OPT');
    const udpSize = opt ? Math.max(CLASSIC_UDP_SIZE, opt.udpPayloadSize) : CLASSIC_UDP_SIZE;
    const questions = query.questions ?? [];
    const base = {
      type: 'response' as const,
      id: query.id,
      questions,
      additionals: opt ? [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as dnsPacket.OptAnswer] : [],
    };
    const opcode = ((query.flags ?? 0) >> 11) & 0xf;
    if (opcode !== 0) return { packet: { ...base, flags: FLAG_QR | rd | RCODE.NOTIMP }, udpSize };
    if (questions.length !== 1) return { packet: { ...base, flags: FLAG_QR | rd | RCODE.FORMERR }, udpSize };

    const [question] = questions;
    const name = canonical(question.name);
    queries.push({ name, type: question.type, transport });
    const inZone = within(name, zone);
    const answers = question.class === undefined || question.class === 'IN' || question.class === 'ANY' ? answersFor(question.name, name, question.type) : [];
    if (answers.length) return { packet: { ...base, flags: FLAG_QR | FLAG_AA | rd | RCODE.NOERROR, answers }, udpSize };
    if (!inZone && !exists(name)) return { packet: { ...base, flags: FLAG_QR | rd | RCODE.REFUSED }, udpSize };
    const rcode = exists(name) ? RCODE.NOERROR : RCODE.NXDOMAIN;
    return { packet: { ...base, flags: FLAG_QR | FLAG_AA | rd | rcode, authorities: inZone ? [soa] : [] }, udpSize };
  }

  /** The wire form of a UDP answer: one that does not fit the client's size is sent empty with TC set. */
  function encodeForUdp(packet: dnsPacket.Packet, udpSize: number): Buffer {
    const full = dnsPacket.encode(packet);
    if (full.length <= udpSize) return full;
    return dnsPacket.encode({ ...packet, flags: (packet.flags ?? 0) | FLAG_TC, answers: [], authorities: [] });
  }

  const tcpSockets = new Set<TcpSocket>();

  function serveUdp(udp: UdpSocket): void {
    udp.on('message', (message: Buffer, peer: RemoteInfo) => {
      const reply = respond(message, 'udp');
      if (reply) udp.send(encodeForUdp(reply.packet, reply.udpSize), peer.port, peer.address);
    });
  }

  function serveTcp(socket: TcpSocket): void {
    tcpSockets.add(socket);
    socket.setTimeout(10_000, () => socket.destroy());
    socket.on('close', () => tcpSockets.delete(socket));
    socket.on('error', () => undefined);
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      pending = Buffer.concat([pending, chunk]);
      if (pending.length > MAX_TCP_BUFFER) return void socket.destroy();
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const length = pending.readUInt16BE(0);
        const message = pending.subarray(2, 2 + length);
        pending = pending.subarray(2 + length);
        const reply = respond(message, 'tcp');
        if (reply) socket.write(dnsPacket.streamEncode(reply.packet));
      }
    });
  }

  const { udp, tcp, port } = await bindBoth(serveUdp, serveTcp);
  return {
    address: `127.0.0.1:${port}`,
    port,
    zone,
    queries,
    setA: (name, ips) => {
      checkIps(ips, 4);
      setsOf(name).A = [...ips];
    },
    setAAAA: (name, ips) => {
      checkIps(ips, 6);
      setsOf(name).AAAA = [...ips];
    },
    setTxt: (name, values) => {
      setsOf(name).TXT = [...values];
    },
    clearTxt: (name) => {
      setsOf(name).TXT = [];
    },
    setDefaultA: (ip) => {
      if (ip !== null) checkIps([ip], 4);
      defaultA = ip;
    },
    close: async () => {
      for (const socket of tcpSockets) socket.destroy();
      await Promise.all([
        new Promise<void>((resolve) => udp.close(() => resolve())),
        new Promise<void>((resolve) => tcp.close(() => resolve())),
      ]);
    },
  };
}

/** UDP on a free loopback port, then TCP on the same port; a few tries when TCP finds that port taken. */
async function bindBoth(
  serveUdp: (udp: UdpSocket) => void,
  serveTcp: (socket: TcpSocket) => void,
): Promise<{ udp: UdpSocket; tcp: TcpServer; port: number }> {
  for (let attempt = 1; ; attempt++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => {
        udp.off('error', reject);
        resolve(udp.address().port);
      });
    });
    udp.on('error', () => undefined);
    const tcp = createServer(serveTcp);
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(port, '127.0.0.1', () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (attempt >= 5) throw error;
      continue;
    }
    serveUdp(udp);
    return { udp, tcp, port };
  }
}
