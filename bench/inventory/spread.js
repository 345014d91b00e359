'use strict';
/**
 * What the seeded inventory looks like: the mix of key algorithms, usages, lifetimes and sources, and
 * the names. Names repeat on purpose (a host is renewed many times over three years, so its common name
 * appears in several certificates), as they do in a real inventory: 30 services x 300 x 16 teams x 4
 * environments x 4 domains, about 2.3 million possible hosts for 5 million certificates.
 */

/** The COPY column list, in the order seed-worker.js writes them. */
const COLUMNS = [
  'id', 'org_id', 'ca_id', 'serial_number', 'fingerprint_sha256', 'common_name', 'subject', 'san_dns', 'key_algorithm', 'usage',
  'extended_key_usage', 'mode', 'valid_from', 'valid_to', 'status', 'revoked_at', 'revocation_reason', 'auto_renew', 'certificate_der',
  'created_at', 'source', 'issuer_dn',
];

/** mulberry32: a seeded generator, so a seed is reproducible. */
function makeRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One value of `[value, weight]` pairs. */
function pick(random, pairs) {
  let total = 0;
  for (const [, weight] of pairs) total += weight;
  let r = random() * total;
  for (const [value, weight] of pairs) if ((r -= weight) < 0) return value;
  return pairs[pairs.length - 1][0];
}

const KEY_MIX = [['ECDSA-P256', 55], ['RSA-2048', 30], ['ECDSA-P384', 10], ['Ed25519', 5]];
const USAGE_MIX = [
  [['server', ['serverAuth']], 70],
  [['client', ['clientAuth']], 14],
  [['server-client', ['serverAuth', 'clientAuth']], 10],
  [['email', ['emailProtection']], 4],
  [['code-signing', ['codeSigning']], 2],
];
/** Days: ACME-style 90, yearly 397, short-lived 30 and 7 (service mesh, CI). */
const VALIDITY_MIX = [[90, 60], [397, 22], [30, 12], [7, 6]];
/** `discovered` and `imported` come from outside CAs (caId null). */
const SOURCE_MIX = [['issued', 78], ['acme', 16], ['imported', 3], ['discovered', 3]];
const REASONS = [['keyCompromise', 15], ['superseded', 45], ['cessationOfOperation', 30], ['affiliationChanged', 5], ['unspecified', 5]];

const SERVICES = ['api', 'web', 'db', 'mq', 'cache', 'auth', 'mail', 'vpn', 'edge', 'search', 'billing', 'ldap', 'metrics', 'grafana', 'kafka',
  'redis', 'pg', 'vault', 'git', 'ci', 'registry', 'proxy', 'lb', 'sso', 'files', 'backup', 'printer', 'wifi', 'iot', 'camera'];
const TEAMS = ['payments', 'checkout', 'identity', 'platform', 'data', 'ml', 'mobile', 'infra', 'security', 'support', 'retail', 'logistics',
  'finance', 'hr', 'marketing', 'research'];
const ENVIRONMENTS = [['prod', 50], ['staging', 20], ['dev', 20], ['test', 10]];
const DOMAINS = [['acme.internal', 50], ['corp.example.com', 25], ['example.net', 15], ['factory.example.org', 10]];
const ORGANIZATIONS = ['Acme Corp', 'Acme Retail GmbH', 'Acme Labs'];

/** A host's names: CN `<service>-<n>.<team>.<env>.<domain>`, its SANs the CN and sometimes www., an alias or a wildcard. */
function nameFor(random) {
  const service = SERVICES[Math.floor(random() * SERVICES.length)];
  const n = Math.floor(random() * 300);
  const team = TEAMS[Math.floor(random() * TEAMS.length)];
  const environment = pick(random, ENVIRONMENTS);
  const domain = pick(random, DOMAINS);
  const commonName = `${service}-${n}.${team}.${environment}.${domain}`;
  const sanDns = [commonName];
  const extra = random();
  if (extra < 0.15) sanDns.push(`www.${commonName}`);
  else if (extra < 0.3) sanDns.push(`${service}.${team}.${environment}.${domain}`, `${service}-${n}-alt.${team}.${environment}.${domain}`);
  else if (extra < 0.35) sanDns.push(`*.${team}.${environment}.${domain}`);
  const organization = random() < 0.5 ? ORGANIZATIONS[Math.floor(random() * ORGANIZATIONS.length)] : undefined;
  return { commonName, sanDns, organization };
}

module.exports = { COLUMNS, makeRandom, pick, KEY_MIX, USAGE_MIX, VALIDITY_MIX, SOURCE_MIX, REASONS, nameFor };
