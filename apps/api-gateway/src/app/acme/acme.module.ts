import { Module } from '@nestjs/common';
import { CasModule } from '../cas/cas.module';
import { IssuanceModule } from '../certificates/issuance.module';
import { AcmeAccountsService } from './acme-accounts.service';
import { AcmeDirectories } from './acme-directory';
import { AcmeExceptionFilter } from './acme-exception.filter';
import { AcmeJwsVerifier } from './acme-jws';
import { AcmeOrdersService } from './acme-orders.service';
import { AcmeRateLimits } from './acme-rate-limits';
import { AcmeRenewalInfo } from './acme-renewal-info';
import { AcmeRevocationService } from './acme-revocation.service';
import { AcmeValidationQueue } from './acme-validation.queue';
import { AcmeController } from './acme.controller';
import { EabKeysController } from './eab-keys.controller';
import { EabKeysService } from './eab-keys.service';
import { NonceStore } from './nonces';

/** The ACME server (API.md section 7, RFC 8555 and RFC 9773) and its EAB keys. */
@Module({
  imports: [CasModule, IssuanceModule],
  controllers: [AcmeController, EabKeysController],
  providers: [
    AcmeDirectories, NonceStore, AcmeJwsVerifier, AcmeExceptionFilter, AcmeAccountsService, AcmeOrdersService, AcmeRevocationService,
    AcmeRenewalInfo, AcmeRateLimits, AcmeValidationQueue, EabKeysService,
  ],
})
export class AcmeModule {}
