/**
 * The rfc2136 provider against a real Knot DNS on loopback: its updates are applied (dig sees them),
 * its TSIG is what Knot checks and its check of Knot's answers holds, and each refusal is said plainly.
 */
import { randomBytes, randomInt } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { dnsProvider } from './dns-provider';
import type { Rfc2136Config } from './dns-provider-config';
import { exchange, parseNameserver } from './dns-transport';
import { CLASS, decodeMessage, encodeMessage, OPCODE, TYPE } from './dns-wire';
import { KnotServer, startKnot } from './test/knot-server';
import { signMessage, verifyAnswer } from './tsig';
import { rejection } from './test/rejection';

const ZONE = 'example.test';
const value = (): string => randomBytes(32).toString('base64url');

describe('rfc2136 against Knot DNS', () => {
  let knot: KnotServer;

  beforeAll(async () => {
    knot = await startKnot({
      zones: [ZONE, 'other.test'],
      keys: [
        { name: 'signet-sha256', algorithm: 'hmac-sha256', update: true },
        { name: 'signet-sha512', algorithm: 'hmac-sha512', update: true },
        { name: 'signet-sha1', algorithm: 'hmac-sha1', update: true },
        { name: 'read-only', algorithm: 'hmac-sha256', update: false },
      ],
    });
  });

  afterAll(async () => {
    await knot?.stop();
  });

  const configFor = (keyName: string, extra: Partial<Rfc2136Config> = {}): Rfc2136Config => {
    const key = knot.keys.find((k) => k.name === keyName);
    if (!key) throw new Error(`no key ${keyName}`);
    return { type: 'rfc2136', nameserver: knot.nameserver, tsigKeyName: key.name, tsigAlgorithm: key.algorithm, tsigSecret: key.secret, ...extra };
  };

  it('adds the TXT value (dig shows it), keeps a second value beside it, and cleanup removes only the one it names', async () => {
    const provider = dnsProvider(configFor('signet-sha256'), { timeoutMs: 10_000 });
    const [first, second] = [value(), value()];
    await provider.present('_acme-challenge.x.example.test.', first);
    expect(await knot.txt('_acme-challenge.x.example.test')).toEqual([first]);
    await provider.present('_acme-challenge.x.example.test', second);
    expect(await knot.txt('_acme-challenge.x.example.test')).toEqual([first, second].sort());
    await provider.cleanup('_acme-challenge.x.example.test.', first);
    expect(await knot.txt('_acme-challenge.x.example.test')).toEqual([second]);
    await provider.cleanup('_acme-challenge.x.example.test.', second);
    expect(await knot.txt('_acme-challenge.x.example.test')).toEqual([]);
  });

  it.each(['signet-sha512', 'signet-sha1'])('signs with %s as well, with the zone given', async (keyName) => {
    const provider = dnsProvider(configFor(keyName, { zone: 'other.test.', ttl: 30 }), { timeoutMs: 10_000 });
    const v = value();
    await provider.present('_acme-challenge.deep.www.other.test', v);
    expect(await knot.txt('_acme-challenge.deep.www.other.test')).toEqual([v]);
    await provider.cleanup('_acme-challenge.deep.www.other.test', v);
    expect(await knot.txt('_acme-challenge.deep.www.other.test')).toEqual([]);
  });

  it('finds the zone at the apex itself by its SOA', async () => {
    const provider = dnsProvider(configFor('signet-sha256'), { timeoutMs: 10_000 });
    const v = value();
    await provider.present('other.test', v);
    expect(await knot.txt('other.test')).toEqual([v]);
    await provider.cleanup('other.test', v);
    expect(await knot.txt('other.test')).toEqual([]);
  });

  it('says a wrong TSIG secret was refused (NOTAUTH, BADSIG), and changes nothing', async () => {
    const provider = dnsProvider(configFor('signet-sha256', { tsigSecret: randomBytes(32).toString('base64') }), { timeoutMs: 10_000 });
    await expect(provider.present('_acme-challenge.bad.example.test', value())).rejects.toThrow(
      /^rfc2136: 127\.0\.0\.1:\d+ refused the TSIG signature of key signet-sha256 \(NOTAUTH, TSIG BADSIG\): check tsigSecret and tsigAlgorithm$/,
    );
    expect(await knot.txt('_acme-challenge.bad.example.test')).toEqual([]);
  });

  it('says a key the server does not know was refused (BADKEY)', async () => {
    const provider = dnsProvider(configFor('signet-sha256', { tsigKeyName: 'nobody' }), { timeoutMs: 10_000 });
    await expect(provider.present('_acme-challenge.x.example.test', value())).rejects.toThrow(/does not accept key nobody for updates of zone example\.test \(NOTAUTH, TSIG BADKEY\): check tsigKeyName and tsigAlgorithm, and that the server lets this key update the zone/);
  });

  // Knot answers a key that its ACLs do not let update as it answers an unknown key (BIND says REFUSED).
  it('says a key without the right to update was refused', async () => {
    const provider = dnsProvider(configFor('read-only'), { timeoutMs: 10_000 });
    const error = await rejection(provider.present('_acme-challenge.x.example.test', value()));
    expect(String(error)).toMatch(/rfc2136: 127\.0\.0\.1:\d+ does not accept key read-only for updates of zone example\.test \(NOTAUTH, TSIG BADKEY\)/);
    expect(String(error)).not.toContain(knot.keys.find((k) => k.name === 'read-only')?.secret);
  });

  it('says when the server holds no zone for the name, and when the name is outside the given zone', async () => {
    const provider = dnsProvider(configFor('signet-sha256'), { timeoutMs: 10_000 });
    await expect(provider.present('_acme-challenge.www.example.org', value())).rejects.toThrow(
      /127\.0\.0\.1:\d+ is authoritative for no zone that holds _acme-challenge\.www\.example\.org \(no SOA found walking up\): give dnsProvider\.zone/,
    );
    const pinned = dnsProvider(configFor('signet-sha256', { zone: 'other.test' }), { timeoutMs: 10_000 });
    await expect(pinned.present('_acme-challenge.x.example.test', value())).rejects.toThrow('_acme-challenge.x.example.test is not in zone other.test');
  });

  it('says when no server answers, within the time', async () => {
    const started = Date.now();
    const provider = dnsProvider(configFor('signet-sha256', { nameserver: '127.0.0.1:9', zone: ZONE }), { timeoutMs: 1_500 });
    await expect(provider.present('_acme-challenge.x.example.test', value())).rejects.toThrow(/rfc2136: the update \(add\) of zone example\.test: (127\.0\.0\.1:9 over UDP: ECONNREFUSED|no answer from 127\.0\.0\.1:9 in time)/);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('gives up on a server that never answers at the time given', async () => {
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const provider = dnsProvider(configFor('signet-sha256', { nameserver: `127.0.0.1:${silent.address().port}` }), { timeoutMs: 1_500 });
      await expect(provider.present('_acme-challenge.x.example.test', value())).rejects.toThrow(
        `rfc2136: the SOA lookup of _acme-challenge.x.example.test: no answer from 127.0.0.1:${silent.address().port} in time`,
      );
      expect(Date.now() - started).toBeGreaterThanOrEqual(1_400);
      expect(Date.now() - started).toBeLessThan(4_000);
    } finally {
      silent.close();
    }
  });

  it("verifies Knot's signed answer over TCP too, and a changed byte fails the verification", async () => {
    const key = knot.keys.find((k) => k.name === 'signet-sha256') as (typeof knot.keys)[number];
    const tsigKey = { name: key.name, algorithm: key.algorithm, secret: Buffer.from(key.secret, 'base64') };
    const query = encodeMessage({ id: randomInt(0x10000), opcode: OPCODE.QUERY, questions: [{ name: ZONE, type: TYPE.SOA, klass: CLASS.IN }] });
    const { signed, mac } = signMessage(query, tsigKey);
    const server = parseNameserver(knot.nameserver);
    if (!server) throw new Error('unparsable nameserver');
    const raw = await exchange(server, signed, AbortSignal.timeout(5_000), { tcp: true });
    const answer = decodeMessage(raw);
    expect(answer.rcode).toBe(0);
    expect(answer.answers.map((r) => [r.name, r.type])).toEqual([[ZONE, TYPE.SOA]]);
    expect(verifyAnswer(raw, answer, tsigKey, mac)).toBeNull();

    const tampered = Buffer.from(raw);
    tampered[answer.answers[0].offset + ZONE.length + 12] ^= 0x01; // a byte of the SOA's RDATA
    expect(verifyAnswer(tampered, decodeMessage(tampered), tsigKey, mac)).toBe("the answer's TSIG MAC does not verify");
    expect(verifyAnswer(raw, answer, { ...tsigKey, secret: randomBytes(32) }, mac)).toBe("the answer's TSIG MAC does not verify");
  });
});
