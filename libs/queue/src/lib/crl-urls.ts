/**
 * Where a CA's CRLs are published under PUBLIC_BASE_URL: the signer writes these URLs into certificates
 * (CRLDistributionPoints) and into shard CRLs (IssuingDistributionPoint), and the gateway shows and serves
 * them. Relying parties match a shard CRL to a certificate by comparing the two names byte for byte, so
 * both sides build them here.
 */

/** At most this many CRL shards per CA (`crlShards` 1..MAX_CRL_SHARDS; shards are numbered from 0). */
export const MAX_CRL_SHARDS = 256;

/** The full CRL (`shard` null or absent) or one shard's CRL of the CA. */
export function crlUrl(publicBaseUrl: string, caId: string, shard: number | null = null): string {
  const base = `${publicBaseUrl.replace(/\/$/, '')}/pki/cas/${caId}/crl`;
  return shard === null ? base : `${base}/${shard}`;
}

/** A shard number as a URL spells it (decimal, no sign or leading zeros, below MAX_CRL_SHARDS); null for anything else. */
export function parseCrlShard(text: string): number | null {
  if (!/^(0|[1-9][0-9]{0,2})$/.test(text)) return null;
  const shard = Number(text);
  return shard < MAX_CRL_SHARDS ? shard : null;
}
