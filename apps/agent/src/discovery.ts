/**
 * Discovery: certificates in files under the scan paths (PEM, DER, PKCS#12) and on TLS endpoints.
 *
 * Files: the tree is walked with lstat, symlinks resolved and followed only within the scan paths (a
 * link that leads outside them, or back into a directory it is in, is a finding-level error and is not
 * followed), every directory read once. Files are read by a pool of workers. A certificate's private key
 * "sits beside it" when the file itself holds it (a PEM with the key, a PKCS#12 with its key) or a file
 * in the same directory holds a key whose public half is the certificate's.
 * Anything that goes wrong with one file or endpoint is a finding with `error`; the pass goes on.
 */
import { pemBlocks, readPkcs12, toPem } from '@signet/pki';
import { X509Certificate, createHash, createPrivateKey, createPublicKey, KeyObject } from 'node:crypto';
import { Dirent } from 'node:fs';
import { lstat, open, readdir, realpath, stat } from 'node:fs/promises';
import { dirname, extname, join, sep } from 'node:path';
import { connect as tlsConnect, PeerCertificate, DetailedPeerCertificate } from 'node:tls';
import { isIP } from 'node:net';

export interface Finding {
  source: 'filesystem' | 'network';
  location: string;
  certificatePem?: string;
  chainPem?: string;
  hasPrivateKey?: boolean;
  error?: string;
}

export interface FileScanOptions {
  maxFileBytes: number;
  pkcs12Passwords: string[];
  /** Files read at once. */
  concurrency?: number;
}

/** Extensions of files that are meant to hold certificates or keys: failing to read one of them is worth a finding. */
const CERTIFICATE_EXTENSIONS = new Set(['.pem', '.crt', '.cer', '.cert', '.der', '.p12', '.pfx', '.key']);
const PKCS12_EXTENSIONS = new Set(['.p12', '.pfx']);

/** What one file held: certificates (each with its chain) and the public keys of the private keys in it. */
interface FileContents {
  certificates: { location: string; leaf: X509Certificate; chain: X509Certificate[]; keyInFile: boolean }[];
  keyHashes: string[];
}

const spkiHash = (key: KeyObject) => createHash('sha256').update(createPublicKey(key).export({ type: 'spki', format: 'der' }) as Buffer).digest('hex');
const certificateKeyHash = (c: X509Certificate) => createHash('sha256').update(c.publicKey.export({ type: 'spki', format: 'der' }) as Buffer).digest('hex');
const messageOf = (error: unknown) => {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'EACCES' || e?.code === 'EPERM') return 'unreadable: permission denied';
  if (e?.code === 'ELOOP') return 'a symlink loop';
  if (e?.code === 'ENOENT') return 'vanished while scanning, or a dangling symlink';
  return (e?.message ?? String(error)).slice(0, 500);
};

/** Walk the scan paths; returns the regular files to read and the findings of what could not be walked. */
async function walk(roots: string[]): Promise<{ files: string[]; errors: Finding[] }> {
  const files: string[] = [];
  const errors: Finding[] = [];
  const fail = (location: string, error: string) => errors.push({ source: 'filesystem', location, error });
  const realRoots: string[] = [];
  for (const root of roots) {
    try {
      realRoots.push(await realpath(root));
    } catch (error) {
      fail(root, messageOf(error));
    }
  }
  const within = (real: string) => realRoots.some((r) => real === r || real.startsWith(r.endsWith(sep) ? r : r + sep));
  const seenDirs = new Set<string>();
  const seenFiles = new Set<string>();
  // Each entry: the path as reached, and the real directories above it (to tell a loop from a second way in).
  const stack: { path: string; ancestors: string[] }[] = [];
  for (const root of realRoots) stack.push({ path: root, ancestors: [] });
  while (stack.length) {
    const { path, ancestors } = stack.pop() as { path: string; ancestors: string[] };
    let real: string;
    try {
      real = await realpath(path);
    } catch (error) {
      fail(path, messageOf(error));
      continue;
    }
    if (ancestors.includes(real)) {
      fail(path, `a symlink loop: it leads back to ${real}`);
      continue;
    }
    if (seenDirs.has(real)) continue;
    seenDirs.add(real);
    let entries: Dirent[];
    try {
      entries = await readdir(path, { withFileTypes: true });
    } catch (error) {
      fail(path, messageOf(error));
      continue;
    }
    for (const entry of entries) {
      const child = join(path, entry.name);
      if (entry.isDirectory()) {
        stack.push({ path: child, ancestors: [...ancestors, real] });
      } else if (entry.isFile()) {
        files.push(child);
      } else if (entry.isSymbolicLink()) {
        let target: string;
        try {
          target = await realpath(child);
        } catch (error) {
          fail(child, messageOf(error));
          continue;
        }
        if (!within(target)) {
          fail(child, `a symlink to ${target}, outside the configured scan paths: not followed`);
          continue;
        }
        try {
          const s = await stat(target);
          if (s.isDirectory()) stack.push({ path: child, ancestors: [...ancestors, real] });
          else if (s.isFile() && !seenFiles.has(target)) {
            seenFiles.add(target);
            files.push(child);
          }
        } catch (error) {
          fail(child, messageOf(error));
        }
      }
    }
  }
  return { files, errors };
}

/** Certificates in PEM text: one finding when they form a chain (leaf first), else one per certificate (`path#n`). */
function groupPem(path: string, certificates: X509Certificate[], keyHashes: string[]): FileContents['certificates'] {
  if (!certificates.length) return [];
  const isChain = certificates.every((c, i) => i === 0 || certificates[i - 1].checkIssued(c));
  const hasKey = (c: X509Certificate) => keyHashes.length > 0 && keyHashes.includes(certificateKeyHash(c));
  if (isChain) return [{ location: path, leaf: certificates[0], chain: certificates.slice(1), keyInFile: hasKey(certificates[0]) }];
  return certificates.map((c, i) => ({ location: `${path}#${i + 1}`, leaf: c, chain: [], keyInFile: hasKey(c) }));
}

async function readSmallFile(path: string, maxBytes: number): Promise<Buffer | 'too large'> {
  const handle = await open(path, 'r');
  try {
    const s = await handle.stat();
    if (s.size > maxBytes) return 'too large';
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}

/** What a file holds, or the error to report (null: not a certificate file, and not named like one). */
async function readFile(path: string, options: FileScanOptions): Promise<FileContents | string | null> {
  const ext = extname(path).toLowerCase();
  const named = CERTIFICATE_EXTENSIONS.has(ext);
  let bytes: Buffer | 'too large';
  try {
    bytes = await readSmallFile(path, options.maxFileBytes);
  } catch (error) {
    return messageOf(error);
  }
  if (bytes === 'too large') return named ? `larger than ${options.maxFileBytes} bytes: not read` : null;
  const head = bytes.subarray(0, Math.min(bytes.length, 64 * 1024)).toString('latin1');
  if (head.includes('-----BEGIN ')) {
    let blocks;
    try {
      blocks = pemBlocks(bytes.toString('latin1'));
    } catch {
      return named ? 'not a certificate: a PEM block does not decode' : null;
    }
    const keyHashes: string[] = [];
    const certificates: X509Certificate[] = [];
    for (const block of blocks) {
      if (block.label === 'CERTIFICATE' || block.label === 'TRUSTED CERTIFICATE') {
        try {
          certificates.push(new X509Certificate(block.der));
        } catch {
          return 'not a certificate: a CERTIFICATE block is not X.509';
        }
      } else if (/PRIVATE KEY$/.test(block.label) && !block.label.startsWith('ENCRYPTED')) {
        try {
          keyHashes.push(spkiHash(createPrivateKey({ key: toPem(block.label, block.der), format: 'pem' })));
        } catch {
          // An unreadable key is no key: it cannot serve the certificate either.
        }
      }
    }
    if (!certificates.length && !keyHashes.length) return named ? 'not a certificate: no CERTIFICATE block' : null;
    return { certificates: groupPem(path, certificates, keyHashes), keyHashes };
  }
  if (bytes[0] !== 0x30) return named ? 'not a certificate: neither PEM, DER nor PKCS#12' : null;
  try {
    const certificate = new X509Certificate(bytes);
    return { certificates: [{ location: path, leaf: certificate, chain: [], keyInFile: false }], keyHashes: [] };
  } catch {
    // Not a DER certificate: perhaps a PKCS#12 bundle or a DER key.
  }
  if (PKCS12_EXTENSIONS.has(ext) || !named) {
    let wrongPassword = false;
    for (const password of options.pkcs12Passwords) {
      try {
        const p12 = readPkcs12(bytes, password);
        const all = p12.certificates.map((der) => new X509Certificate(der));
        if (!all.length) return PKCS12_EXTENSIONS.has(ext) ? 'a PKCS#12 file without a certificate' : null;
        const keyHash = p12.privateKey ? spkiHash(p12.privateKey) : null;
        const leafAt = Math.max(0, keyHash ? all.findIndex((c) => certificateKeyHash(c) === keyHash) : all.findIndex((c) => !c.ca));
        const [leaf] = all.splice(leafAt, 1);
        return { certificates: [{ location: path, leaf, chain: all, keyInFile: keyHash !== null && certificateKeyHash(leaf) === keyHash }], keyHashes: keyHash ? [keyHash] : [] };
      } catch (error) {
        const field = (error as { field?: string }).field;
        if (field === 'pfxPassword') wrongPassword = true;
        else break;
      }
    }
    if (wrongPassword) return 'a PKCS#12 file that none of the configured pkcs12Passwords opens';
  }
  if (ext === '.key' || ext === '.der') {
    try {
      return { certificates: [], keyHashes: [spkiHash(createPrivateKey({ key: bytes, format: 'der', type: 'pkcs8' }))] };
    } catch {
      // Not a key either.
    }
  }
  return named ? 'not a certificate: neither PEM, DER nor PKCS#12' : null;
}

const pemOf = (c: X509Certificate) => toPem('CERTIFICATE', c.raw);

/** Every certificate under `roots`, and a finding-level error for every file or directory that could not be read. */
export async function scanFiles(roots: string[], options: FileScanOptions): Promise<{ findings: Finding[]; filesRead: number }> {
  const { files, errors } = await walk(roots);
  const findings: Finding[] = [...errors];
  const keysByDir = new Map<string, Set<string>>();
  const found: { finding: Finding; leaf: X509Certificate; dir: string }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < files.length) {
      const path = files[next++];
      const contents = await readFile(path, options);
      if (contents === null) continue;
      if (typeof contents === 'string') {
        findings.push({ source: 'filesystem', location: path, error: contents });
        continue;
      }
      const dir = dirname(path);
      if (contents.keyHashes.length) {
        const set = keysByDir.get(dir) ?? new Set<string>();
        contents.keyHashes.forEach((h) => set.add(h));
        keysByDir.set(dir, set);
      }
      for (const c of contents.certificates) {
        found.push({
          finding: { source: 'filesystem', location: c.location, certificatePem: pemOf(c.leaf), chainPem: c.chain.map(pemOf).join('') || undefined, hasPrivateKey: c.keyInFile },
          leaf: c.leaf, dir,
        });
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency ?? 16 }, worker));
  for (const f of found) {
    // Most directories hold no key: the certificate's key hash is worked out only where one does.
    const keys = keysByDir.get(f.dir);
    if (!f.finding.hasPrivateKey) f.finding.hasPrivateKey = keys !== undefined && keys.has(certificateKeyHash(f.leaf));
    findings.push(f.finding);
  }
  return { findings, filesRead: files.length };
}

/** `host:port` (`[v6]:port`) -> its parts. */
export function parseEndpoint(endpoint: string): { host: string; port: number } {
  const at = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(at + 1)) };
}

/**
 * The certificate chain a TLS endpoint sends, asked with SNI (its host name, when it is a name). The
 * certificate is not judged (an expired or untrusted one is exactly what discovery is for). An endpoint
 * that does not finish a handshake within `timeoutMs` is a finding-level error.
 */
export function probeEndpoint(endpoint: string, timeoutMs: number): Promise<Finding> {
  const { host, port } = parseEndpoint(endpoint);
  return new Promise((resolve) => {
    let settled = false;
    const done = (finding: Omit<Finding, 'source' | 'location'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ source: 'network', location: endpoint, ...finding });
    };
    const socket = tlsConnect({ host, port, servername: isIP(host) ? undefined : host, rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    const timer = setTimeout(() => done({ error: `no TLS handshake within ${timeoutMs / 1000} s` }), timeoutMs);
    socket.on('error', (error) => done({ error: `TLS: ${messageOf(error)}` }));
    socket.on('secureConnect', () => {
      const peer = socket.getPeerCertificate(true) as DetailedPeerCertificate;
      if (!peer || !peer.raw) return done({ error: 'the endpoint sent no certificate' });
      const chain: Buffer[] = [];
      let current: PeerCertificate | DetailedPeerCertificate = peer;
      const seen = new Set<string>();
      while (current?.raw && !seen.has(current.fingerprint256) && chain.length < 10) {
        seen.add(current.fingerprint256);
        chain.push(current.raw);
        current = (current as DetailedPeerCertificate).issuerCertificate;
      }
      const [leaf, ...rest] = chain;
      done({ certificatePem: toPem('CERTIFICATE', leaf), chainPem: rest.map((der) => toPem('CERTIFICATE', der)).join('') || undefined, hasPrivateKey: false });
    });
  });
}
