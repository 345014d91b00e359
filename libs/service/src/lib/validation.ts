/**
 * The global ValidationPipe: unknown fields rejected, types converted, and failures reported as
 * `validation_failed` with one entry per bad field (nested fields by dotted path). Before the DTO's own
 * rules, every string of a body, query or route parameter is checked for text no store can carry
 * (request-text.ts).
 */
import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ValidateBy, ValidateIf, ValidationOptions, isISO8601 } from 'class-validator';
import { ApiError, FieldError } from './errors';
import { checkedPerItem, refuseUnfitText } from './request-text';

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((e) => {
    const field = parent ? `${parent}.${e.property}` : e.property;
    const own = e.constraints ? [{ field, messages: Object.values(e.constraints) }] : [];
    return [...own, ...flatten(e.children ?? [], field)];
  });
}

/** A query parameter given empty (`?caId=&search=`) means no filter, as API.md writes it. */
function withoutEmptyValues(query: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([, value]) => value !== ''));
}

/** What the text check reads of an argument: a named one (a route parameter) under its name; a DTO without its properties checked per item. */
function textToCheck(value: unknown, metadata: ArgumentMetadata): unknown {
  if (metadata.data) return { [metadata.data]: value };
  const perItem = checkedPerItem(metadata.metatype);
  if (!perItem.size || !value || typeof value !== 'object' || Array.isArray(value)) return value;
  return Object.fromEntries(Object.entries(value).filter(([key]) => !perItem.has(key)));
}

class ApiValidationPipe extends ValidationPipe {
  override transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type !== 'custom') refuseUnfitText(textToCheck(value, metadata));
    const query = metadata.type === 'query' && value && typeof value === 'object' && !Array.isArray(value);
    return super.transform(query ? withoutEmptyValues(value as Record<string, unknown>) : value, metadata);
  }
}

export const createValidationPipe = () =>
  new ApiValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    transformOptions: { enableImplicitConversion: false },
    validationError: { target: false, value: false },
    exceptionFactory: (errors) => ApiError.validation(flatten(errors)),
  });

/**
 * An ISO 8601 date or date-time (2024-05-01, 2024-05-01T12:00:00Z) that names a real instant PostgreSQL
 * takes as it is: a day the month has (not 2024-02-30), a year from 0001 (not 0000), calendar dates
 * only (not 2024-W01 or 2024-122). class-validator's IsDateString lets all of those through.
 */
export function isTimestamp(value: unknown): boolean {
  return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}(T|$)/.test(value) && !value.startsWith('0000')
    && isISO8601(value, { strict: true, strictSeparator: true }) && Number.isFinite(Date.parse(value));
}

export const IsTimestamp = (options?: ValidationOptions): PropertyDecorator =>
  ValidateBy({
    name: 'isTimestamp',
    validator: { validate: isTimestamp, defaultMessage: (a) => `${a?.property} must be an ISO 8601 date or date-time, e.g. 2024-05-01 or 2024-05-01T12:00:00Z` },
  }, options);

/**
 * Optional, but never null: a field that may be left out (its default, or "unchanged", then) whose column
 * has no "unset". `@IsOptional()` would let null through to the database (a 500); this lets only
 * undefined skip the field's other validators.
 */
export const OptionalNotNull = (): PropertyDecorator => ValidateIf((_object, value) => value !== undefined);

/**
 * A field that takes a CSR or certificate must not carry a private key: pasted there by mistake it would
 * travel the queue and sit in Redis in the clear. Refused before anything else sees it.
 */
export const NotAPrivateKey = (options?: ValidationOptions): PropertyDecorator =>
  ValidateBy(
    {
      name: 'notAPrivateKey',
      validator: {
        validate: (value) => typeof value !== 'string' || !/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(value),
        defaultMessage: (args) => `${args?.property} holds a private key: send the certificate request, never the key (and make a new key: this one has left its host)`,
      },
    },
    options,
  );
