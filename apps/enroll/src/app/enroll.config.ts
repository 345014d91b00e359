import { IsOptional, IsString } from 'class-validator';
import { CommonConfig, IsPort } from '@signet/service';

/** The enrollment service's environment. Like the gateway it holds no CA key and no MASTER_KEY. */
export class EnrollConfig extends CommonConfig {
  @IsPort('ENROLL_PORT')
  ENROLL_PORT = 8443;

  @IsPort('ENROLL_HEALTH_PORT')
  ENROLL_HEALTH_PORT = 8081;

  /** PEM files of the TLS server certificate and key; when unset one is issued at start. */
  @IsOptional()
  @IsString()
  ENROLL_TLS_CERT?: string = undefined;

  @IsOptional()
  @IsString()
  ENROLL_TLS_KEY?: string = undefined;
}
