/**
 * Test support only (never exported from the lib): the openssl CLI as an independent judge, with
 * scratch files under os.tmpdir(), and a small CA hierarchy for specs that need one.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IssuedCertificate, buildCertificateSync, issuerOf } from '../certificate';

export interface OpensslRun {
  ok: boolean;
  out: string;
}

export function scratch(prefix: string) {
  const dir = mkdtempSync(join(tmpdir(), `signet-${prefix}-`));
  return {
    dir,
    path: (name: string) => join(dir, name),
    file(name: string, data: string | Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, data);
      return path;
    },
    openssl(...args: string[]): OpensslRun {
      const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
      return { ok: r.status === 0, out: `${r.stdout}\n${r.stderr}` };
    },
  };
}

export const DAY = 86_400_000;

/** A P-256 key pair made directly with node:crypto (fast, synchronous). */
export const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' });

export interface SmallHierarchy {
  root: IssuedCertificate;
  rootKey: KeyObject;
  intermediate: IssuedCertificate;
  intermediateKey: KeyObject;
}

/** Root and intermediate (P-256, unless keys are given), the intermediate optionally name-constrained. */
export function smallHierarchy(options: { permittedDnsDomains?: string[]; rootKeys?: ReturnType<typeof p256>; intermediateKeys?: ReturnType<typeof p256> } = {}): SmallHierarchy {
  const rootKeys = options.rootKeys ?? p256();
  const intermediateKeys = options.intermediateKeys ?? p256();
  const notBefore = new Date(Date.now() - 60_000);
  const root = buildCertificateSync({
    kind: 'root', subject: { commonName: 'Spec Root', organization: 'Signet Test' }, publicKey: rootKeys.publicKey,
    selfSignKey: rootKeys.privateKey, notBefore, notAfter: new Date(Date.now() + 3650 * DAY),
  });
  const intermediate = buildCertificateSync({
    kind: 'intermediate', subject: { commonName: 'Spec Intermediate' }, publicKey: intermediateKeys.publicKey,
    issuer: issuerOf(root.der, rootKeys.privateKey), notBefore, notAfter: new Date(Date.now() + 1825 * DAY), pathLength: 0,
    permittedDnsDomains: options.permittedDnsDomains,
  });
  return { root, rootKey: rootKeys.privateKey, intermediate, intermediateKey: intermediateKeys.privateKey };
}
