/**
 * `key.wrap`: an imported certificate's private key, sealed by the gateway to the transport key, opened
 * here and encrypted under MASTER_KEY exactly as a stored managed key is (so the key download, PKCS#12
 * and MASTER_KEY rotation treat it the same). Only the encrypted blob leaves.
 */
import { Injectable } from '@nestjs/common';
import { encryptPrivateKey, importPrivateKey } from '@signet/pki';
import { WrapKeyJob, WrapKeyResult, open } from '@signet/queue';
import { KeyObject, createPrivateKey } from 'node:crypto';
import { refuse } from '../job-failure';
import { CaKeyring } from '../keys/ca-keyring';

@Injectable()
export class WrapKeyHandler {
  constructor(private readonly keyring: CaKeyring) {}

  async handle(job: WrapKeyJob): Promise<WrapKeyResult> {
    let pem: string;
    try {
      pem = open(job.sealedPrivateKey, this.keyring.transport.privateKey);
    } catch {
      throw refuse('validation_failed', 'the key was sealed to another transport key: do the gateway and the signers share one Redis and MASTER_KEY?');
    }
    let key: KeyObject;
    try {
      key = createPrivateKey(pem);
    } catch {
      key = importPrivateKey(pem);
    }
    return { encryptedKey: (await encryptPrivateKey(key, this.keyring.master)).toString('base64') };
  }
}
