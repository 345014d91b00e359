import { Module } from '@nestjs/common';
import { ApiKeysModule } from '../api-keys/api-keys.module';
import { OrgsService } from './orgs.service';
import { PlatformController } from './platform.controller';

/** The operator's API: orgs and platform keys. */
@Module({ imports: [ApiKeysModule], controllers: [PlatformController], providers: [OrgsService] })
export class PlatformModule {}
