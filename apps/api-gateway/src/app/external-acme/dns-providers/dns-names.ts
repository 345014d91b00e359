/**
 * Domain names as the providers handle them: lowercased, without the final dot (the APIs that want one
 * get `absolute(name)`), and the walk up a name's labels to find the zone that holds it; and the TXT
 * values of a name, for the APIs that write a name's whole set at once.
 */

/** `_Acme-Challenge.Example.COM.` -> `_acme-challenge.example.com`. */
export function canonicalName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/** With the final dot. */
export function absolute(name: string): string {
  return `${canonicalName(name)}.`;
}

/**
 * The zones that could hold `fqdn`, longest first: `_acme-challenge.www.example.com` gives itself,
 * `www.example.com`, `example.com` (and `com` when `minLabels` is 1).
 */
export function zoneCandidates(fqdn: string, minLabels = 2): string[] {
  const labels = canonicalName(fqdn).split('.');
  const out: string[] = [];
  for (let i = 0; i + minLabels <= labels.length; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/** `fqdn` relative to `zone`: `_acme-challenge.www` in `example.com`, `@` for the apex itself. */
export function relativeName(fqdn: string, zone: string): string {
  const name = canonicalName(fqdn);
  const apex = canonicalName(zone);
  if (name === apex) return '@';
  return name.slice(0, name.length - apex.length - 1);
}

/** Is `name` `zone` or below it? */
export function isWithin(name: string, zone: string): boolean {
  const n = canonicalName(name);
  const z = canonicalName(zone);
  return z === '' || n === z || n.endsWith(`.${z}`);
}

const LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/i;

/** A host name with an optional final dot; labels of letters, digits, `-` and `_` (as `_acme-challenge`). */
export function isDomainName(name: string): boolean {
  const bare = name.replace(/\.$/, '');
  return bare.length > 0 && bare.length <= 253 && bare.split('.').every((label) => LABEL.test(label));
}

/** A TXT value as one quoted character string, as Route 53 and Google Cloud DNS take and give it: `"value"`. */
export function quotedTxt(value: string): string {
  return `"${value.replace(/["\\]/g, '\\$&')}"`;
}

/**
 * The TXT values a name is to have once `value` is presented or cleaned up, for APIs that write the
 * whole set at once (the others' values kept, in order); null when it has them already.
 */
export function nextTxtValues(op: 'present' | 'cleanup', current: string[], value: string): string[] | null {
  if (op === 'present') return current.includes(value) ? null : [...current, value];
  return current.includes(value) ? current.filter((v) => v !== value) : null;
}
