import { Type } from 'class-transformer';
import { IsInt, IsString, Matches, Max, Min, MinLength } from 'class-validator';
import { CommonConfig, IsPort } from '@signet/service';

/** The gateway's environment. It never reads MASTER_KEY: it cannot sign or decrypt anything. */
export class GatewayConfig extends CommonConfig {
  @IsPort('PORT')
  PORT = 3000;

  @IsString()
  HOST = '0.0.0.0';

  @IsString({ message: 'PLATFORM_ADMIN_KEY is required (at least 32 characters)' })
  @MinLength(32, { message: 'PLATFORM_ADMIN_KEY must be at least 32 characters' })
  PLATFORM_ADMIN_KEY: string;

  /** Base of the URLs placed in certificates (CRL distribution point, OCSP, caIssuers). */
  @Matches(/^https?:\/\/[^\s/]+(\/[^\s]*)?$/, { message: 'PUBLIC_BASE_URL must be an http(s) URL' })
  PUBLIC_BASE_URL = 'http://127.0.0.1:3000';

  @Type(() => Number)
  @IsInt({ message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  @Min(1024, { message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  @Max(100 * 1024 * 1024, { message: 'BODY_LIMIT_BYTES must be an integer between 1024 and 104857600' })
  BODY_LIMIT_BYTES = 1024 * 1024;
}
