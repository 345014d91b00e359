/**
 * CA private keys, decrypted only here. Keys without a passphrase are kept decrypted in memory after
 * first use (never logged, never serialised); passphrase-protected keys are opened per job with the
 * caller's passphrase, so a wrong or missing one is refused every time.
 */
import { Inject, Injectable } from '@nestjs/common';
import { CertificateAuthorityEntity } from '@signet/persistence';
import { Issuer, decryptPrivateKey, issuerOf } from '@signet/pki';
import { SIGNER_CONFIG } from '../signer-config.token';
import { SignerConfig, masterKeyBytes } from '../signer.config';
import { SealedPassphrase, open, transportKeyFrom } from '@signet/queue';
import { refuse } from '../job-failure';

@Injectable()
export class CaKeyring {
  private readonly issuers = new Map<string, Issuer>();
  private readonly masterKey: Buffer;
  /** Derived from MASTER_KEY: producers seal secrets bound for the signers to its public half. */
  readonly transport: ReturnType<typeof transportKeyFrom>;

  constructor(@Inject(SIGNER_CONFIG) config: SignerConfig) {
    this.masterKey = masterKeyBytes(config);
    this.transport = transportKeyFrom(this.masterKey);
  }

  get master(): Buffer {
    return this.masterKey;
  }

  /**
   * The passphrase a producer sealed to the transport key for CA `caId` (SealedPassphrase); undefined
   * when none was sent. One that does not open was sealed under another MASTER_KEY's transport key; one
   * sealed for another CA, or past its deadline, was lifted from another job.
   */
  openPassphrase(sealed: string | undefined, caId: string): string | undefined {
    if (sealed === undefined) return undefined;
    let contents: Partial<SealedPassphrase>;
    try {
      contents = JSON.parse(open(sealed, this.transport.privateKey)) as Partial<SealedPassphrase>;
    } catch {
      throw refuse('ca_unavailable', 'the passphrase was sealed to another transport key: do the gateway and the signers share one Redis and MASTER_KEY?');
    }
    if (contents.caId !== caId || typeof contents.passphrase !== 'string' || typeof contents.notAfter !== 'number') {
      throw refuse('ca_unavailable', 'the sealed passphrase is not for this certificate authority');
    }
    if (contents.notAfter <= Date.now()) throw refuse('ca_unavailable', 'the sealed passphrase has expired: send the request again');
    return contents.passphrase;
  }

  /** The CA as an Issuer, refusing (ca_unavailable) when its passphrase is missing or wrong. */
  async issuer(ca: CertificateAuthorityEntity, passphrase?: string): Promise<Issuer> {
    const cached = !ca.hasPassphrase && this.issuers.get(ca.id);
    if (cached) return cached;
    if (ca.hasPassphrase && !passphrase) throw refuse('ca_unavailable', `certificate authority ${ca.id} is protected by a passphrase: send caPassphrase`);
    const key = await decryptPrivateKey(ca.encryptedKey, this.masterKey, passphrase).catch(() => {
      throw refuse('ca_unavailable', ca.hasPassphrase ? 'wrong caPassphrase for this certificate authority' : 'the CA key cannot be decrypted with this MASTER_KEY');
    });
    const issuer = issuerOf(ca.certificateDer, key);
    if (!ca.hasPassphrase) this.issuers.set(ca.id, issuer);
    return issuer;
  }
}
