/**
 * The rate-limit class of a route (API.md: 1000/min general; 300/min issue, renew and enroll;
 * 60/min batch). A route is counted in exactly one class; undecorated routes are `general`.
 */
import { SetMetadata } from '@nestjs/common';

export const RATE_LIMIT_CLASSES = ['general', 'issue', 'batch'] as const;
export type RateLimitClass = (typeof RATE_LIMIT_CLASSES)[number];

export const RATE_LIMIT_CLASS = 'signet:rate-limit-class';

export const RateLimit = (limitClass: RateLimitClass) => SetMetadata(RATE_LIMIT_CLASS, limitClass);
