import { Global, Module } from '@nestjs/common';
import { ExternalAcmeOrders } from './external-acme-orders.queue';
import { ExternalAcmeController } from './external-acme.controller';
import { ExternalAcmeService } from './external-acme.service';
import { Http01Challenges, Http01ChallengesController } from './http01-challenges';

/**
 * Obtaining from outside ACME CAs (API.md section 8): accounts, orders as jobs on the gateways, HTTP-01
 * answers. Global: certificates' renew, revoke, import and PATCH hand certificates from elsewhere to it.
 */
@Global()
@Module({
  controllers: [ExternalAcmeController, Http01ChallengesController],
  providers: [ExternalAcmeService, ExternalAcmeOrders, Http01Challenges],
  exports: [ExternalAcmeService],
})
export class ExternalAcmeModule {}
