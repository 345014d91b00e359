/**
 * `:id` path parameters: every resource id is a UUID, so anything else names nothing that exists and is
 * answered like an unknown id (404 not_found, API.md), not with Nest's 400 "uuid is expected".
 */
import { ParseUUIDPipe } from '@nestjs/common';
import { ApiError } from '@signet/service';

export const RESOURCE_ID = new ParseUUIDPipe({ exceptionFactory: () => new ApiError('not_found', 'not found (ids are UUIDs)') });
