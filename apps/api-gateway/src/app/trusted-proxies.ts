/**
 * TRUST_PROXY: the proxies whose X-Forwarded-For the gateway believes (issue 18, finding 6). Express
 * walks the header from right to left, skipping every hop this says is trusted, starting with the TCP
 * peer; the first untrusted address is the client (`req.ip`). Nothing trusted (the default): the
 * client is the TCP peer and the header is ignored, so no caller can choose the address its rate limit
 * and its audit events are kept under.
 */
import { BlockList, isIP } from 'node:net';

/** One entry: an IPv4 or IPv6 address, optionally with a prefix length (`10.0.0.0/8`, `fd00::/8`). */
const parseEntry = (entry: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | null => {
  const [address, prefix, extra] = entry.split('/');
  const version = isIP(address);
  if (!version || extra !== undefined) return null;
  const max = version === 4 ? 32 : 128;
  if (prefix !== undefined && !/^[0-9]{1,3}$/.test(prefix)) return null;
  const length = prefix === undefined ? max : Number(prefix);
  if (length > max) return null;
  return { address, prefix: length, family: version === 4 ? 'ipv4' : 'ipv6' };
};

const entriesOf = (value: string): string[] => value.split(',').map((e) => e.trim()).filter((e) => e.length > 0);

/** Whether TRUST_PROXY is a comma-separated list of IPs and CIDRs (empty: none). */
export const isTrustProxyList = (value: unknown): boolean => typeof value === 'string' && entriesOf(value).every((e) => parseEntry(e) !== null);

/** Express's `trust proxy` function for TRUST_PROXY: is the hop at `address` one of ours? */
export function trustedProxies(value: string): (address: string) => boolean {
  const entries = entriesOf(value).map((e) => parseEntry(e)!);
  if (!entries.length) return () => false;
  const list = new BlockList();
  for (const { address, prefix, family } of entries) list.addSubnet(address, prefix, family);
  return (address) => {
    const family = isIP(address);
    // BlockList matches an IPv4-mapped IPv6 peer (::ffff:10.0.0.1) against IPv4 subnets too.
    return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
  };
}
