/**
 * The time that time rules read (approval expiry, renewal thresholds): injected, so tests set the time
 * (`jest.spyOn(app.get(Clock), 'now')`) instead of sleeping or editing rows.
 */
import { Injectable } from '@nestjs/common';

@Injectable()
export class Clock {
  now(): Date {
    return new Date();
  }
}
