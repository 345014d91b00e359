/**
 * API.md's list shape: `{"<items>": [...], total, page, pageSize, totalPages}`, page from 1,
 * pageSize default 20, at most 1000 (larger requests are capped, not refused).
 */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';
import { ApiError } from '@signet/service';
import { createHash } from 'node:crypto';

export const MAX_PAGE_SIZE = 1000;
/** page * pageSize must stay a bigint OFFSET; no list is anywhere near this many pages. */
export const MAX_PAGE = 1_000_000;

export class PageQueryDto {
  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_PAGE, default: 1 })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Max(MAX_PAGE)
  page = 1;

  @ApiPropertyOptional({ type: Number, minimum: 1, maximum: MAX_PAGE_SIZE, default: 20, description: 'values above 1000 are capped' })
  @IsOptional()
  @Type(() => Number)
  @IsInt()
  @Min(1)
  @Transform(({ value }) => (typeof value === 'number' ? Math.min(value, MAX_PAGE_SIZE) : value), { toClassOnly: true })
  pageSize = 20;
}

export const skipOf = (q: PageQueryDto) => (q.page - 1) * q.pageSize;

export function pageOf<K extends string, T>(name: K, items: T[], total: number, q: PageQueryDto) {
  return { [name]: items, total, page: q.page, pageSize: q.pageSize, totalPages: Math.ceil(total / q.pageSize) } as {
    [P in K]: T[];
  } & { total: number; page: number; pageSize: number; totalPages: number };
}

/**
 * Keyset paging (a list's `cursor` and `nextCursor`): a cursor names the last row a page showed (its sort
 * key and id) and the query it belongs to (a hash of the sort and filters, `query`). It is opaque
 * (base64url JSON) and validated, not secret: a cursor edited to another position only starts the same
 * query elsewhere, since the caller's filters and permissions apply to every page; one edited into
 * anything else, or carried to another query, is 400 validation_failed on `cursor`.
 */
export interface CursorPosition {
  key: string;
  id: string;
}

const CURSOR_VERSION = 1;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const queryHash = (query: string) => createHash('sha256').update(query).digest('base64url').slice(0, 16);

export function encodeCursor(query: string, position: CursorPosition): string {
  return Buffer.from(JSON.stringify({ v: CURSOR_VERSION, q: queryHash(query), k: position.key, i: position.id })).toString('base64url');
}

/** The position in `cursor`, which must belong to `query` and carry a key `keyIsValid` accepts; else 400. */
export function decodeCursor(query: string, cursor: string, keyIsValid: (key: string) => boolean): CursorPosition {
  const refuse = (message: string) => ApiError.validation([{ field: 'cursor', messages: [message] }]);
  let parsed: unknown;
  try {
    parsed = /^[A-Za-z0-9_-]+$/.test(cursor) ? JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) : undefined;
  } catch {
    parsed = undefined;
  }
  const { v, q, k, i } = (parsed ?? {}) as Record<string, unknown>;
  if (v !== CURSOR_VERSION || typeof q !== 'string' || typeof k !== 'string' || typeof i !== 'string' || !UUID.test(i) || !keyIsValid(k)) {
    throw refuse('cursor is not a cursor this list gave out: pass nextCursor as it was returned');
  }
  if (q !== queryHash(query)) throw refuse('cursor belongs to another query: keep the sort and filters of the request that returned it');
  return { key: k, id: i };
}
