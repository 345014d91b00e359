/**
 * API.md's list shape: `{"<items>": [...], total, page, pageSize, totalPages}`, page from 1,
 * pageSize default 20, at most 1000 (larger requests are capped, not refused).
 */
import { ApiPropertyOptional } from '@nestjs/swagger';
import { Transform, Type } from 'class-transformer';
import { IsInt, IsOptional, Max, Min } from 'class-validator';

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
