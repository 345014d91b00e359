import { Module } from '@nestjs/common';
import { ProfilesController } from './profiles.controller';
import { ProfilesService } from './profiles.service';

/** Certificate profiles (API.md section 5); the policy they state is applied by the signer. */
@Module({ controllers: [ProfilesController], providers: [ProfilesService] })
export class ProfilesModule {}
