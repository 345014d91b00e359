/**
 * Batch issuance input: `{items: [issue request, ...]}` or CertMate's `{caId, headers, rows}`. Each item
 * is validated on its own, so one bad item is reported at its index and never sinks the others.
 */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { plainToInstance } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsOptional, IsString, IsUUID, ValidationError, validate } from 'class-validator';
import { ApiError, CheckedPerItem, unfitTextFields } from '@signet/service';
import { IssueCertificateDto } from './issue-certificate.dto';

export const MAX_BATCH_ITEMS = 1000;

export class BatchIssueDto {
  // Documented as IssueCertificateDto items by the controller's @ApiBody (a oneOf with the CertMate form).
  @ApiPropertyOptional({ type: 'array', items: { type: 'object' }, maxItems: MAX_BATCH_ITEMS, description: 'issue requests, as for POST /certificates' })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_BATCH_ITEMS) @CheckedPerItem()
  items?: Record<string, unknown>[];

  @ApiPropertyOptional({ format: 'uuid', description: 'CertMate form: the CA of every row without a caId column' })
  @IsOptional() @IsUUID()
  caId?: string;

  @ApiPropertyOptional({ type: [String], example: ['commonName', 'sanDns', 'validityDays', 'usage'] })
  @IsOptional() @IsArray() @ArrayMaxSize(40) @IsString({ each: true })
  headers?: string[];

  @ApiPropertyOptional({ type: 'array', items: { type: 'array', items: { type: 'string' } }, maxItems: MAX_BATCH_ITEMS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_BATCH_ITEMS) @CheckedPerItem()
  rows?: unknown[][];
}

const LIST_FIELDS = new Set(['sanDns', 'sanIp', 'sanEmail', 'sanUri', 'extendedKeyUsage']);
const NUMBER_FIELDS = new Set(['validityDays', 'renewalThresholdDays']);
const BOOLEAN_FIELDS = new Set(['autoRenew', 'storeKey']);

/** One CertMate row as an issue request: lists split on ; , or spaces, numbers and booleans converted. */
function fromRow(headers: string[], row: unknown[], caId: string | undefined): Record<string, unknown> {
  const item: Record<string, unknown> = caId ? { caId } : {};
  headers.forEach((header, i) => {
    const raw = row[i];
    if (raw === undefined || raw === null || raw === '') return;
    const text = String(raw).trim();
    if (LIST_FIELDS.has(header)) item[header] = text.split(/[;,\s]+/).filter(Boolean);
    else if (NUMBER_FIELDS.has(header)) item[header] = /^-?\d+$/.test(text) ? Number(text) : text;
    else if (BOOLEAN_FIELDS.has(header)) item[header] = text === 'true' ? true : text === 'false' ? false : text;
    else item[header] = raw;
  });
  return item;
}

/** The batch's items, in order, whatever form it came in. */
export function batchItems(dto: BatchIssueDto): Record<string, unknown>[] {
  if (dto.items && (dto.headers || dto.rows)) throw ApiError.badRequest('send either items or headers and rows, not both');
  if (dto.items) return dto.items;
  if (!dto.headers || !dto.rows) throw ApiError.validation([{ field: 'items', messages: ['items, or headers and rows, are required'] }]);
  return dto.rows.map((row) => (Array.isArray(row) ? fromRow(dto.headers!, row, dto.caId) : { invalidRow: row }));
}

const describe = (errors: ValidationError[], parent = ''): string[] =>
  errors.flatMap((e) => [
    ...Object.values(e.constraints ?? {}).map(() => (parent ? `${parent}.${e.property}` : e.property)),
    ...describe(e.children ?? [], parent ? `${parent}.${e.property}` : e.property),
  ]);

/** Validate one item like the global pipe would; an ApiError naming the bad fields otherwise. */
export async function validItem(item: unknown): Promise<IssueCertificateDto> {
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw ApiError.badRequest('an item must be an object');
  const unfit = unfitTextFields(item);
  if (unfit.length) throw new ApiError('validation_failed', unfit.flatMap((f) => f.messages).join('; '), { fields: unfit.map((f) => f.field) });
  const dto = plainToInstance(IssueCertificateDto, item);
  const errors = await validate(dto, { whitelist: true, forbidNonWhitelisted: true });
  if (errors.length) {
    const fields = [...new Set(describe(errors))];
    throw new ApiError('validation_failed', `invalid fields: ${fields.join(', ')}`, { fields });
  }
  return dto;
}
