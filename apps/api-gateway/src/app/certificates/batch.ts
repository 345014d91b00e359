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

  @ApiPropertyOptional({ type: [String], example: ['common_name', 'email', 'organization', 'organizational_unit', 'cert_usage', 'days_valid'] })
  @IsOptional() @IsArray() @ArrayMaxSize(40) @IsString({ each: true })
  headers?: string[];

  @ApiPropertyOptional({ type: 'array', items: { type: 'array', items: { type: 'string' } }, maxItems: MAX_BATCH_ITEMS })
  @IsOptional() @IsArray() @ArrayMaxSize(MAX_BATCH_ITEMS) @CheckedPerItem()
  rows?: unknown[][];
}

const LIST_FIELDS = new Set(['sanDns', 'sanIp', 'sanEmail', 'sanUri', 'extendedKeyUsage']);
const NUMBER_FIELDS = new Set(['validityDays', 'renewalThresholdDays']);
const BOOLEAN_FIELDS = new Set(['autoRenew', 'storeKey']);

/** The subject's fields (LeafSubjectDto): a column of one of these names, bare or as `subject.<name>`, fills the row's subject. */
export const SUBJECT_COLUMNS = ['organization', 'organizationalUnit', 'country', 'state', 'locality', 'email'] as const;

/** CertMate's column names whose meaning is not just their camelCase spelling. */
export const CERTMATE_COLUMNS: Readonly<Record<string, string>> = {
  cert_usage: 'usage',
  days_valid: 'validityDays',
};

/**
 * The issue-request field a column names: CertMate's names (`common_name`, `email`, `organization`,
 * `organizational_unit`, `cert_usage`, `days_valid`), snake_case for camelCase (`san_dns`), and a subject
 * field bare or dotted (`organization`, `subject.organization`) as `subject.<field>`. Anything else as
 * written (an unknown field is then that row's validation error).
 */
export function fieldOfColumn(header: string): string {
  const name = String(header).trim();
  const known = CERTMATE_COLUMNS[name.toLowerCase()];
  if (known) return known;
  const camel = name.split('.').map((part) => part.replace(/_([a-z])/g, (_, ch: string) => ch.toUpperCase())).join('.');
  return (SUBJECT_COLUMNS as readonly string[]).includes(camel) ? `subject.${camel}` : camel;
}

/** An own property whatever the name (a column named `__proto__` is a field validation refuses, not a prototype). */
const put = (target: Record<string, unknown>, key: string, value: unknown) =>
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });

/** One CertMate row as an issue request: lists split on ; , or spaces, numbers and booleans converted. */
function fromRow(fields: string[], row: unknown[], caId: string | undefined): Record<string, unknown> {
  const item: Record<string, unknown> = caId ? { caId } : {};
  fields.forEach((field, i) => {
    const raw = row[i];
    if (raw === undefined || raw === null || raw === '') return;
    const text = String(raw).trim();
    const subjectField = field.startsWith('subject.') ? field.slice('subject.'.length) : null;
    if (subjectField !== null) {
      if (!Object.prototype.hasOwnProperty.call(item, 'subject') || typeof item.subject !== 'object' || item.subject === null) put(item, 'subject', {});
      put(item.subject as Record<string, unknown>, subjectField, raw);
    } else if (LIST_FIELDS.has(field)) put(item, field, text.split(/[;,\s]+/).filter(Boolean));
    else if (NUMBER_FIELDS.has(field)) put(item, field, /^-?\d+$/.test(text) ? Number(text) : text);
    else if (BOOLEAN_FIELDS.has(field)) put(item, field, text === 'true' ? true : text === 'false' ? false : text);
    else put(item, field, raw);
  });
  return item;
}

/** The batch's items, in order, whatever form it came in. */
export function batchItems(dto: BatchIssueDto): Record<string, unknown>[] {
  if (dto.items && (dto.headers || dto.rows)) throw ApiError.badRequest('send either items or headers and rows, not both');
  if (dto.items) return dto.items;
  if (!dto.headers || !dto.rows) throw ApiError.validation([{ field: 'items', messages: ['items, or headers and rows, are required'] }]);
  const fields = dto.headers.map(fieldOfColumn);
  return dto.rows.map((row) => (Array.isArray(row) ? fromRow(fields, row, dto.caId) : { invalidRow: row }));
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
