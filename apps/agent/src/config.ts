/**
 * agent.json (API.md section 10): what to scan, which TLS endpoints to probe, the named deployment targets,
 * and where the agent keeps its state. Read once at start; every bad field is named in one error.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';

export interface TargetConfig {
  name: string;
  certPath: string;
  keyPath?: string;
  chainPath?: string;
  fullchainPath?: string;
  /** Mode of the certificate, chain and fullchain files (octal string, default "0644"); the key is always 0600. */
  mode: number;
  /** `user`, `user:group`, or numeric `uid:gid`: the files' owner (the agent must be allowed to chown). */
  owner?: string;
  reloadCommand?: string;
  reloadTimeoutSeconds: number;
}

export interface AgentConfig {
  gatewayUrl: string;
  key: string;
  scanPaths: string[];
  endpoints: string[];
  /** Seconds between discovery passes (default 3600; SIGHUP starts one at once). */
  intervalSeconds: number;
  targets: TargetConfig[];
  /** Spool of unsent reports and the deployment journal (default: .signet-agent beside the config file). */
  stateDir: string;
  /** Passwords tried on PKCS#12 files (default: the empty password). */
  pkcs12Passwords: string[];
  /** Files larger than this are not read (default 1 MiB). */
  maxFileBytes: number;
  /** Seconds an endpoint probe may take (default 5). */
  probeTimeoutSeconds: number;
  /** Heartbeat period (default 30 s). */
  heartbeatSeconds: number;
  /** --once: how long to keep retrying an unreachable gateway before leaving the reports in the spool (default 60 s). */
  onceRetrySeconds: number;
}

export class ConfigError extends Error {}

const TARGET_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const ENDPOINT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;
const OWNER = /^[A-Za-z0-9_.-]+(:[A-Za-z0-9_.-]+)?$/;

export function loadConfig(file: string): AgentConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseConfig(raw, dirname(resolve(file)));
}

export function parseConfig(raw: unknown, baseDir: string): AgentConfig {
  const faults: string[] = [];
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('the configuration must be a JSON object');
  const c = raw as Record<string, unknown>;
  const str = (v: unknown) => typeof v === 'string' && v.length > 0;
  const num = (name: string, v: unknown, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      faults.push(`${name} must be a number from ${min} to ${max}`);
      return dflt;
    }
    return v;
  };
  const strings = (name: string, v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) {
      faults.push(`${name} must be an array of strings`);
      return [];
    }
    return v as string[];
  };

  let gatewayUrl = '';
  if (!str(c.gatewayUrl)) faults.push('gatewayUrl is required');
  else {
    try {
      const url = new URL(c.gatewayUrl as string);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') faults.push('gatewayUrl must be http(s)');
      gatewayUrl = url.toString().replace(/\/+$/, '');
    } catch {
      faults.push('gatewayUrl is not a URL');
    }
  }
  if (!str(c.key) || !/^sga_[0-9a-f]{16}_[0-9A-Za-z]{43}$/.test(c.key as string)) faults.push('key must be the agent key (sga_<id>_<secret>) shown when the agent was made');
  const scanPaths = strings('scanPaths', c.scanPaths).map((p) => resolve(baseDir, p));
  const endpoints = strings('endpoints', c.endpoints);
  for (const e of endpoints) {
    const m = ENDPOINT.exec(e);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) faults.push(`endpoints: "${e}" is not host:port`);
  }
  const targets: TargetConfig[] = [];
  if (c.targets !== undefined && !Array.isArray(c.targets)) faults.push('targets must be an array');
  for (const [i, t] of (Array.isArray(c.targets) ? c.targets : []).entries()) {
    const at = `targets[${i}]`;
    if (!t || typeof t !== 'object') {
      faults.push(`${at} must be an object`);
      continue;
    }
    const o = t as Record<string, unknown>;
    if (!str(o.name) || !TARGET_NAME.test(o.name as string)) faults.push(`${at}.name must be 1-64 letters, digits, dots, dashes or underscores`);
    if (targets.some((x) => x.name === o.name)) faults.push(`${at}.name ${String(o.name)} is used twice`);
    const path = (field: string, required: boolean): string | undefined => {
      const v = o[field];
      if (v === undefined && !required) return undefined;
      if (!str(v) || !isAbsolute(v as string)) {
        faults.push(`${at}.${field} must be an absolute path`);
        return undefined;
      }
      return v as string;
    };
    let mode = 0o644;
    if (o.mode !== undefined) {
      if (typeof o.mode !== 'string' || !/^0?[0-7]{3}$/.test(o.mode)) faults.push(`${at}.mode must be an octal string such as "0644"`);
      else mode = parseInt(o.mode, 8);
    }
    if (o.owner !== undefined && (!str(o.owner) || !OWNER.test(o.owner as string))) faults.push(`${at}.owner must be user, user:group or uid:gid`);
    if (o.reloadCommand !== undefined && !str(o.reloadCommand)) faults.push(`${at}.reloadCommand must be a non-empty string`);
    targets.push({
      name: o.name as string, certPath: path('certPath', true) ?? '', keyPath: path('keyPath', false), chainPath: path('chainPath', false),
      fullchainPath: path('fullchainPath', false), mode, owner: o.owner as string | undefined, reloadCommand: o.reloadCommand as string | undefined,
      reloadTimeoutSeconds: num(`${at}.reloadTimeoutSeconds`, o.reloadTimeoutSeconds, 60, 1, 3600),
    });
    const paths = [o.certPath, o.keyPath, o.chainPath, o.fullchainPath].filter((p) => p !== undefined);
    if (new Set(paths).size !== paths.length) faults.push(`${at}: each file needs a path of its own`);
  }
  const config: AgentConfig = {
    gatewayUrl, key: c.key as string, scanPaths, endpoints, targets,
    intervalSeconds: num('intervalSeconds', c.intervalSeconds, 3600, 10, 7 * 86400),
    stateDir: str(c.stateDir) ? resolve(baseDir, c.stateDir as string) : resolve(baseDir, '.signet-agent'),
    pkcs12Passwords: c.pkcs12Passwords === undefined ? [''] : strings('pkcs12Passwords', c.pkcs12Passwords),
    maxFileBytes: num('maxFileBytes', c.maxFileBytes, 1024 * 1024, 1024, 64 * 1024 * 1024),
    probeTimeoutSeconds: num('probeTimeoutSeconds', c.probeTimeoutSeconds, 5, 1, 120),
    heartbeatSeconds: num('heartbeatSeconds', c.heartbeatSeconds, 30, 5, 3600),
    onceRetrySeconds: num('onceRetrySeconds', c.onceRetrySeconds, 60, 0, 3600),
  };
  if (faults.length) throw new ConfigError(`bad configuration: ${faults.join('; ')}`);
  return config;
}
