/**
 * signet-agent: discovery passes on a schedule (and on SIGHUP), deployments by long poll, heartbeats,
 * all reported through the spool. `--once`: one discovery pass and the deployments waiting now, then exit.
 */
import { newRecipient, open as openSealed } from '@signet/queue';
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AgentConfig } from './config';
import { deployToTarget, recoverTargets } from './deploy';
import { Finding, probeEndpoint, scanFiles } from './discovery';
import { GatewayClient, GatewayError, Spool } from './gateway-client';

export const AGENT_VERSION = '1.0.0';
/** Findings per report (the gateway takes at most 500). */
const BATCH = 500;
/** Endpoints probed at once. */
const PROBES_AT_ONCE = 16;
const LONG_POLL_SECONDS = 25;

interface ClaimedDeployment {
  deployment: { id: string; certificateId: string; targets: { name: string }[] };
  certificatePem: string;
  chainPem: string;
  fullchainPem: string;
  sealedPrivateKey: string | null;
}

export class Agent {
  private readonly client: GatewayClient;
  private readonly spool: Spool;
  private readonly session = randomUUID();
  /** This process's key for private keys sealed to it; never written anywhere. */
  private readonly recipient = newRecipient();
  private readonly stop = new AbortController();
  private discoveryRequested = false;

  constructor(
    private readonly config: AgentConfig,
    private readonly log: (message: string) => void,
  ) {
    this.client = new GatewayClient(config.gatewayUrl, config.key, `signet-agent/${AGENT_VERSION}`, log);
    this.spool = new Spool(config.stateDir);
  }

  /** Before anything else: finish what a killed run left half done. */
  async prepare(): Promise<void> {
    await mkdir(this.config.stateDir, { recursive: true, mode: 0o700 });
    for (const line of await recoverTargets(this.config.stateDir, this.config.targets)) this.log(`recovered ${line}`);
  }

  private heartbeat(maxElapsedMs: number) {
    return this.client.callWithRetry('POST', '/api/v1/agent/heartbeat', {
      hostname: hostname(), version: AGENT_VERSION,
      targets: this.config.targets.map((t) => ({
        name: t.name, certPath: t.certPath, keyPath: t.keyPath ?? null, chainPath: t.chainPath ?? null, fullchainPath: t.fullchainPath ?? null,
        reloadCommand: t.reloadCommand ?? null,
      })),
    }, { maxElapsedMs, signal: this.stop.signal });
  }

  /** One discovery pass, its findings spooled in batches (sent by the next flush). */
  async scan(): Promise<{ findings: number; errors: number }> {
    const scanId = randomUUID();
    const startedAt = new Date().toISOString();
    const files = await scanFiles(this.config.scanPaths, { maxFileBytes: this.config.maxFileBytes, pkcs12Passwords: this.config.pkcs12Passwords });
    const probes: Finding[] = [];
    for (let i = 0; i < this.config.endpoints.length; i += PROBES_AT_ONCE) {
      probes.push(...(await Promise.all(this.config.endpoints.slice(i, i + PROBES_AT_ONCE).map((e) => probeEndpoint(e, this.config.probeTimeoutSeconds * 1000)))));
    }
    const findings = [...files.findings, ...probes];
    for (let i = 0; i < findings.length || i === 0; i += BATCH) {
      await this.spool.add({ method: 'POST', path: '/api/v1/agent/discoveries', body: { scanId, startedAt, findings: findings.slice(i, i + BATCH) } });
    }
    const errors = findings.filter((f) => f.error).length;
    this.log(`discovery: ${files.filesRead} files read, ${this.config.endpoints.length} endpoints probed, ${findings.length - errors} certificates, ${errors} errors`);
    return { findings: findings.length - errors, errors };
  }

  private flush(maxElapsedMs: number): Promise<number> {
    return this.spool.flush(this.client, { maxElapsedMs, signal: this.stop.signal }, this.log);
  }

  /** Take and carry out deployments until none is waiting (waiting up to `waitSeconds` for the first). */
  async deployWaiting(waitSeconds: number, maxElapsedMs: number): Promise<number> {
    let done = 0;
    for (;;) {
      // A result still in the spool is sent before new work is asked for: its deployment is then settled.
      await this.flush(maxElapsedMs);
      if (this.stop.signal.aborted) return done;
      const claimed = await this.client.callWithRetry<{ job: ClaimedDeployment | null }>(
        'POST', '/api/v1/agent/deployments/claim',
        { recipientKey: this.recipient.publicKeyBase64, session: this.session, waitSeconds: done === 0 ? waitSeconds : 0 },
        { maxElapsedMs, signal: this.stop.signal }, (waitSeconds + 30) * 1000,
      );
      const job = claimed.body?.job;
      if (!job) return done;
      await this.carryOut(job);
      done++;
    }
  }

  private async carryOut(claimed: ClaimedDeployment): Promise<void> {
    const { deployment } = claimed;
    let privateKeyPem: string | null = null;
    let keyError: string | null = null;
    if (claimed.sealedPrivateKey) {
      try {
        privateKeyPem = openSealed(claimed.sealedPrivateKey, this.recipient.privateKey);
      } catch {
        keyError = 'the private key could not be opened with this agent run\'s key';
      }
    }
    const results: { name: string; status: 'succeeded' | 'failed'; error: string | null }[] = [];
    for (const { name } of deployment.targets) {
      const target = this.config.targets.find((t) => t.name === name);
      let error: string | null;
      if (!target) error = `this agent has no target named ${name}`;
      else if (keyError) error = keyError;
      else {
        error = await deployToTarget(this.config.stateDir, target, {
          certificatePem: claimed.certificatePem, chainPem: claimed.chainPem, fullchainPem: claimed.fullchainPem, privateKeyPem,
        }).catch((e: Error) => `deployment failed: ${e.message}`);
      }
      results.push({ name, status: error ? 'failed' : 'succeeded', error });
      this.log(`deployment ${deployment.id} of certificate ${deployment.certificateId} to ${name}: ${error ?? 'succeeded'}`);
    }
    await this.spool.add({ method: 'POST', path: `/api/v1/agent/deployments/${deployment.id}/result`, body: { targets: results } });
  }

  /** `--once`: exit code 0 when everything was reported, 1 when reports wait in the spool. */
  async once(): Promise<number> {
    await this.prepare();
    const budget = this.config.onceRetrySeconds * 1000;
    try {
      // Findings reach the spool first: with the gateway down they wait there for the next run.
      await this.scan();
      await this.heartbeat(budget);
      await this.flush(budget);
      await this.deployWaiting(0, budget);
      return 0;
    } catch (error) {
      this.log(`stopped: ${(error as Error).message}${error instanceof GatewayError && error.transient ? ' (reports are kept in the spool for the next run)' : ''}`);
      return 1;
    }
  }

  /** The daemon: runs until SIGTERM/SIGINT. */
  async run(): Promise<number> {
    await this.prepare();
    process.on('SIGHUP', () => {
      this.discoveryRequested = true;
    });
    const stop = () => this.stop.abort();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    await Promise.all([this.loop('heartbeat', this.config.heartbeatSeconds, () => this.heartbeat(Infinity)), this.discoveryLoop(), this.deployLoop()]);
    return 0;
  }

  private async loop(name: string, everySeconds: number, work: () => Promise<unknown>): Promise<void> {
    while (!this.stop.signal.aborted) {
      try {
        await work();
      } catch (error) {
        this.log(`${name}: ${(error as Error).message}`);
      }
      await sleep(everySeconds * 1000, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  private async discoveryLoop(): Promise<void> {
    let next = 0;
    while (!this.stop.signal.aborted) {
      if (this.discoveryRequested || Date.now() >= next) {
        this.discoveryRequested = false;
        next = Date.now() + this.config.intervalSeconds * 1000;
        try {
          await this.scan();
          await this.flush(Infinity);
        } catch (error) {
          this.log(`discovery: ${(error as Error).message}`);
        }
      }
      await sleep(1000, undefined, { signal: this.stop.signal }).catch(() => undefined);
    }
  }

  private async deployLoop(): Promise<void> {
    let backoff = 1000;
    while (!this.stop.signal.aborted) {
      try {
        await this.deployWaiting(LONG_POLL_SECONDS, Infinity);
        backoff = 1000;
      } catch (error) {
        if (this.stop.signal.aborted) return;
        this.log(`deployments: ${(error as Error).message}`);
        await sleep(backoff, undefined, { signal: this.stop.signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, 60_000);
      }
    }
  }
}
