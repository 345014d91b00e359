/**
 * `acme.verifyEab`: an ACME external account binding checked with its EAB key. The HMAC key is stored
 * sealed to the signers' transport key (the gateway sealed it when the key was made and never kept it),
 * so it is opened only here, and only the verdict leaves.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { acmeEabKeyById } from '@signet/persistence';
import { VerifyEabJob, VerifyEabResult, open } from '@signet/queue';
import { flattenedVerify } from 'jose';
import { DataSource } from 'typeorm';
import { refuse } from '../job-failure';
import { CaKeyring } from '../keys/ca-keyring';

const MAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

@Injectable()
export class VerifyEabHandler {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly keyring: CaKeyring,
  ) {}

  async handle(job: VerifyEabJob): Promise<VerifyEabResult> {
    const row = await acmeEabKeyById(this.dataSource.manager, job.eabKeyId);
    if (!row) throw refuse('not_found', 'external account binding key not found');
    let hmacKey: Buffer;
    try {
      hmacKey = Buffer.from(open(row.encryptedKey.toString('utf8'), this.keyring.transport.privateKey), 'base64url');
    } catch {
      throw refuse('internal', 'the EAB key was sealed under another MASTER_KEY');
    }
    try {
      await flattenedVerify({ protected: job.protected, payload: job.payload, signature: job.signature }, hmacKey, { algorithms: MAC_ALGORITHMS });
      return { valid: true };
    } catch {
      return { valid: false };
    }
  }
}
