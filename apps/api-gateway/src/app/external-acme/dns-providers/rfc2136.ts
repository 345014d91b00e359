/**
 * The `rfc2136` provider: a DNS UPDATE (RFC 2136) signed with TSIG (RFC 8945), sent to `nameserver` over
 * UDP (TCP when the answer is truncated):
 * - zone section: the zone, type SOA, class IN; prerequisite section: none;
 * - present: update section "add to an RRset": `<fqdn> <ttl> IN TXT "<value>"`;
 * - cleanup: "delete an RR from an RRset": `<fqdn> 0 NONE TXT "<value>"` (that value only).
 * The answer's RCODE is checked (NOTAUTH with a TSIG error, REFUSED and NOTZONE said plainly) and its TSIG
 * verified. Without `zone`, the zone is found by asking the same server for the SOA of the name and of
 * each name above it: the first it answers for (the SOA of a name inside a zone comes back in the
 * authority section, naming the zone).
 */
import { randomInt } from 'node:crypto';
import type { DnsProvider } from './dns-provider';
import type { Rfc2136Config } from './dns-provider-config';
import { DnsProviderError } from './dns-provider-error';
import { canonicalName, isWithin, zoneCandidates } from './dns-names';
import { DnsServer, exchange, formatServer, parseNameserver } from './dns-transport';
import { CLASS, decodeMessage, encodeMessage, Message, OPCODE, rcodeName, ResourceRecord, TYPE, txtRdata } from './dns-wire';
import { answerTsig, signMessage, TsigKey, tsigErrorName, verifyAnswer } from './tsig';

const DEFAULT_TTL = 60;
const RCODE = { NOERROR: 0, NXDOMAIN: 3, REFUSED: 5, NOTAUTH: 9, NOTZONE: 10 } as const;

export function rfc2136Provider(config: Rfc2136Config, timeoutMs: number): DnsProvider {
  const parsed = parseNameserver(config.nameserver);
  if (!parsed) throw new DnsProviderError('rfc2136', `nameserver ${JSON.stringify(config.nameserver)} is not host:port`);
  const server: DnsServer = parsed;
  const key: TsigKey = { name: canonicalName(config.tsigKeyName), algorithm: config.tsigAlgorithm, secret: Buffer.from(config.tsigSecret, 'base64') };
  const ttl = config.ttl ?? DEFAULT_TTL;
  const fail = (message: string): DnsProviderError => new DnsProviderError('rfc2136', message);
  const at = formatServer(server);

  async function ask(message: Buffer, signal: AbortSignal, what: string): Promise<{ raw: Buffer; answer: Message }> {
    let raw: Buffer;
    try {
      raw = await exchange(server, message, signal);
    } catch (error) {
      throw fail(`${what}: ${(error as Error).message}`);
    }
    let answer: Message;
    try {
      answer = decodeMessage(raw);
    } catch (error) {
      throw fail(`${what}: ${at} answered with a malformed message (${(error as Error).message})`);
    }
    if (!answer.qr || answer.opcode !== message.readUInt16BE(2) >> 11) throw fail(`${what}: ${at} answered something other than an answer to it`);
    return { raw, answer };
  }

  async function findZone(fqdn: string, signal: AbortSignal): Promise<string> {
    if (config.zone) return canonicalName(config.zone);
    for (const candidate of zoneCandidates(fqdn, 1)) {
      const query = encodeMessage({ id: randomInt(0x10000), opcode: OPCODE.QUERY, questions: [{ name: candidate, type: TYPE.SOA, klass: CLASS.IN }] });
      const { answer } = await ask(query, signal, `the SOA lookup of ${candidate}`);
      if (answer.rcode !== RCODE.NOERROR && answer.rcode !== RCODE.NXDOMAIN) continue;
      const soa = [...answer.answers, ...answer.authorities].find((r) => r.type === TYPE.SOA && isWithin(candidate, r.name));
      if (soa) return canonicalName(soa.name);
    }
    throw fail(`${at} is authoritative for no zone that holds ${canonicalName(fqdn)} (no SOA found walking up): give dnsProvider.zone`);
  }

  /** Why the server said no, in words a person can act on. */
  function refusal(raw: Buffer, answer: Message, zone: string, fqdn: string): string {
    const rcode = rcodeName(answer.rcode);
    const tsig = answerTsig(raw, answer);
    if (answer.rcode === RCODE.NOTAUTH && tsig && tsig.error !== 0) {
      const error = tsigErrorName(tsig.error);
      const how = `(${rcode}, TSIG ${error})`;
      if (error === 'BADSIG') return `${at} refused the TSIG signature of key ${key.name} ${how}: check tsigSecret and tsigAlgorithm`;
      if (error === 'BADTIME') return `${at} refused the TSIG signature of key ${key.name} ${how}: this host's clock and the server's differ by more than the fudge`;
      if (error === 'BADKEY') return `${at} does not accept key ${key.name} for updates of zone ${zone} ${how}: check tsigKeyName and tsigAlgorithm, and that the server lets this key update the zone`;
      return `${at} refused the TSIG signature of key ${key.name} ${how}`;
    }
    if (answer.rcode === RCODE.NOTAUTH) return `${at} is not authoritative for zone ${zone} (${rcode})`;
    if (answer.rcode === RCODE.REFUSED) return `${at} refused the update of zone ${zone} (${rcode}): key ${key.name} may not update it, or the server does not serve it`;
    if (answer.rcode === RCODE.NOTZONE) return `${canonicalName(fqdn)} is not in zone ${zone} (${rcode})`;
    return `${at} answered the update of zone ${zone} with ${rcode}`;
  }

  async function update(fqdn: string, record: ResourceRecord, what: string): Promise<void> {
    const signal = AbortSignal.timeout(timeoutMs);
    const zone = await findZone(fqdn, signal);
    if (!isWithin(fqdn, zone)) throw fail(`${canonicalName(fqdn)} is not in zone ${zone}`);
    const message = encodeMessage({ id: randomInt(0x10000), opcode: OPCODE.UPDATE, questions: [{ name: zone, type: TYPE.SOA, klass: CLASS.IN }], authorities: [record] });
    const { signed, mac } = signMessage(message, key);
    const { raw, answer } = await ask(signed, signal, `the update (${what}) of zone ${zone}`);
    if (answer.rcode !== RCODE.NOERROR) throw fail(refusal(raw, answer, zone, fqdn));
    const unverified = verifyAnswer(raw, answer, key, mac);
    if (unverified) throw fail(`the answer of ${at} to the update of zone ${zone} cannot be trusted: ${unverified}`);
  }

  return {
    present: (fqdn, value) => update(fqdn, { name: canonicalName(fqdn), type: TYPE.TXT, klass: CLASS.IN, ttl, rdata: txtRdata(value) }, 'add'),
    cleanup: (fqdn, value) => update(fqdn, { name: canonicalName(fqdn), type: TYPE.TXT, klass: CLASS.NONE, ttl: 0, rdata: txtRdata(value) }, 'delete'),
  };
}
