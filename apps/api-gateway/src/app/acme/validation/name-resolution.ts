/**
 * DNS for validation: A/AAAA of the name being validated and TXT of its `_acme-challenge` label,
 * through the configured resolver (ACME_DNS_RESOLVER) or the system's name servers. A fresh
 * c-ares Resolver serves each query, so no answer is reused from a cache between attempts (a client
 * that fixed its TXT record after a failure is seen as it is now) and a query that runs out of
 * time is cancelled on its own.
 */
import { Resolver, lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { Deadline, bounded } from './deadline';
import { ValidationFailure } from './validation-types';

/** The resolver's servers in the form `Resolver#setServers` takes; undefined: the system's. */
export type ResolverServers = string[] | undefined;

const PER_TRY_TIMEOUT_MS = 2000;
const TRIES = 3;

/**
 * `host:port`, `[v6]:port`, a bare IP or a bare host name (port 53). A host name (a compose service
 * name, say) is looked up once through the system, since c-ares takes addresses only.
 */
export async function resolverServers(resolver: string | undefined, deadline: Deadline): Promise<ResolverServers> {
  if (resolver === undefined || resolver.trim() === '') return undefined;
  const text = resolver.trim();
  let host: string;
  let port = 53;
  const bracketed = text.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (bracketed) {
    host = bracketed[1];
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (isIP(text) === 6) {
    host = text;
  } else {
    const [h, p, ...rest] = text.split(':');
    if (rest.length || !h) throw new ValidationFailure('serverInternal', `the DNS resolver setting ${JSON.stringify(text)} is not host:port`);
    host = h;
    if (p !== undefined) port = Number(p);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ValidationFailure('serverInternal', `the DNS resolver setting ${JSON.stringify(text)} has no valid port`);
  }
  if (!isIP(host)) {
    host = await bounded<string>(deadline, { budgetMs: deadline.remaining(), kind: 'dns', detail: `looking up the DNS resolver ${host} timed out` }, (resolve, reject) => {
      lookup(host).then(
        (found) => resolve(found.address),
        (error) => reject(new ValidationFailure('dns', `the DNS resolver ${host} could not be found (${error?.code ?? error})`)),
      );
      return () => undefined;
    });
  }
  return [isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`];
}

type QueryType = 'A' | 'AAAA' | 'TXT';

/** One query through a Resolver of its own, bounded by the deadline; c-ares errors become `dns` failures. */
function query<T>(servers: ResolverServers, deadline: Deadline, name: string, type: QueryType, run: (r: Resolver) => Promise<T>): Promise<T> {
  const remaining = deadline.remaining();
  const resolver = new Resolver({ timeout: Math.max(100, Math.min(PER_TRY_TIMEOUT_MS, Math.floor(remaining / 2))), tries: TRIES });
  return bounded<T>(deadline, { budgetMs: remaining, kind: 'dns', detail: `DNS query for ${type} records of ${name} timed out` }, (resolve, reject) => {
    if (servers) resolver.setServers(servers);
    run(resolver).then(resolve, (error) => reject(dnsFailure(error, name, type)));
    return () => resolver.cancel();
  });
}

/** A failed query, keeping c-ares' code: "nothing there" (NXDOMAIN, no records) is told apart from a broken lookup. */
export class DnsFailure extends ValidationFailure {
  constructor(detail: string, readonly code: string) {
    super('dns', detail);
  }

  get empty(): boolean {
    return this.code === 'ENOTFOUND' || this.code === 'ENODATA';
  }
}

function dnsFailure(error: unknown, name: string, type: QueryType): DnsFailure {
  const code = String((error as { code?: string })?.code ?? '');
  const detail: Record<string, string> = {
    ENOTFOUND: `no such name (NXDOMAIN): ${name}`,
    ENODATA: `no ${type} records for ${name}`,
    ETIMEOUT: `DNS query for ${type} records of ${name} timed out`,
    ESERVFAIL: `the DNS server failed the query for ${type} records of ${name} (SERVFAIL)`,
    EREFUSED: `the DNS server refused the query for ${type} records of ${name}`,
    ECONNREFUSED: `the DNS server could not be reached (${type} ${name})`,
  };
  return new DnsFailure(detail[code] ?? `DNS query for ${type} records of ${name} failed (${code || String(error)})`, code);
}

/**
 * The addresses of `name`: IPv4 first, then IPv6. Fails (`dns`) only when neither family has any; one
 * family failing while the other answers is not an error.
 */
export async function resolveAddresses(name: string, servers: ResolverServers, deadline: Deadline): Promise<string[]> {
  const [v4, v6] = await Promise.allSettled([
    query(servers, deadline, name, 'A', (r) => r.resolve4(name)),
    query(servers, deadline, name, 'AAAA', (r) => r.resolve6(name)),
  ]);
  const addresses = [...(v4.status === 'fulfilled' ? v4.value : []), ...(v6.status === 'fulfilled' ? v6.value : [])];
  if (addresses.length) return addresses;
  const failures = [v4, v6].flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
  // A real failure (timeout, SERVFAIL) says more than "no records" does.
  const broken = failures.find((f) => !(f instanceof DnsFailure && f.empty));
  if (broken) throw broken;
  if (failures.some((f) => f instanceof DnsFailure && f.code === 'ENOTFOUND')) throw new ValidationFailure('dns', `no such name (NXDOMAIN): ${name}`);
  throw new ValidationFailure('dns', `no valid A or AAAA records for ${name}`);
}

/** The TXT records of `name`, each record's strings joined (RFC 8555 8.4 compares whole records). */
export function lookupTxt(name: string, servers: ResolverServers, deadline: Deadline): Promise<string[]> {
  return query(servers, deadline, name, 'TXT', async (r) => (await r.resolveTxt(name)).map((chunks) => chunks.join('')));
}
