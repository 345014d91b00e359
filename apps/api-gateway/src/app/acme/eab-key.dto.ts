import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, Length } from 'class-validator';
import { OptionalNotNull } from '@signet/service';
import { PageQueryDto } from '../paging';

export class CreateEabKeyDto {
  @ApiProperty({ format: 'uuid', description: 'the profile whose ACME directory the key registers an account at' })
  @IsUUID()
  profileId: string;

  @ApiPropertyOptional({ description: 'a label for people (who it was given to)', maxLength: 200 })
  @OptionalNotNull() @IsString() @Length(1, 200)
  name?: string;
}

export class ListEabKeysDto extends PageQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'only the keys of this profile' })
  @IsOptional() @IsUUID()
  profileId?: string;
}

export class EabKeyView {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ description: 'the EAB key id an ACME client is given (kid of the binding)' }) keyId: string;
  @ApiProperty({ format: 'uuid' }) profileId: string;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ format: 'date-time' }) createdAt: string;
  @ApiProperty({ type: String, format: 'uuid', nullable: true, description: 'the ACME account it registered; an EAB key binds one account' }) boundAccountId: string | null;
}

export class CreatedEabKeyView {
  @ApiProperty({ type: EabKeyView }) eabKey: EabKeyView;
  @ApiProperty({ description: 'the HMAC key, base64url; shown once, never again (store it in the ACME client)' }) hmacKey: string;
}

export class EabKeyPageView {
  @ApiProperty({ type: [EabKeyView] }) eabKeys: EabKeyView[];
  @ApiProperty() total: number;
  @ApiProperty() page: number;
  @ApiProperty() pageSize: number;
  @ApiProperty() totalPages: number;
}
