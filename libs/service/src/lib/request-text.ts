/**
 * Hostile values in requests, refused before any work: text no store can carry (a NUL, an unpaired
 * UTF-16 surrogate: textFault in the signing lib says which) and JSON nested deeper than any request
 * needs. Left alone they passed validation and failed later, as a 500 or in the signer's shared
 * transaction, where one bad value sank the requests coalesced with it.
 *
 * The global validation pipe checks every string (and object key; `__proto__`, `constructor` and
 * `prototype` are no keys at all) of each body, query and route parameter it validates; a route that validates the items of a list on its own (a batch, where one bad
 * item must not sink the others) marks that property @CheckedPerItem() and checks each item itself.
 */
import { textFault } from '@signet/pki';
import type { NextFunction, Request, Response } from 'express';
import { ApiError, FieldError } from './errors';

/** No request of the API nests deeper than a few levels; anything past this is refused unread. */
export const MAX_JSON_DEPTH = 32;

/** Object keys the validation pipe would strip silently (prototype pollution guards): refused instead, so nothing vanishes from a request. */
const DROPPED_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Every string and object key in `value` that textFault refuses (and every key in DROPPED_KEYS), by dotted path under `root`. */
export function unfitTextFields(value: unknown, root = ''): FieldError[] {
  const faults: FieldError[] = [];
  const join = (path: string, key: string | number) => (path ? `${path}.${key}` : String(key));
  // Iterative: the depth bound is checked on bodies, but query strings and other callers need no stack either.
  const stack: [unknown, string][] = [[value, root]];
  while (stack.length) {
    const [node, path] = stack.pop()!;
    if (typeof node === 'string') {
      const fault = textFault(node);
      if (fault) faults.push({ field: path || 'request', messages: [`${path || 'the value'} ${fault}`] });
    } else if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, join(path, i)]));
    } else if (node && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        const fault = textFault(key);
        if (fault) faults.push({ field: path || 'request', messages: [`a key of ${path || 'the request'} ${fault}`] });
        // Keys Nest's validation pipe deletes unseen (JSON.parse keeps them as own keys): refused, named.
        else if (DROPPED_KEYS.has(key)) faults.push({ field: join(path, key), messages: [`${key} is not a key any request uses`] });
        else stack.push([item, join(path, key)]);
      }
    }
  }
  return faults.sort((a, b) => a.field.localeCompare(b.field));
}

/** Throws validation_failed naming each field that holds unfit text. */
export function refuseUnfitText(value: unknown, root = ''): void {
  const fields = unfitTextFields(value, root);
  if (fields.length) throw ApiError.validation(fields);
}

/** Whether `value` nests objects and arrays deeper than `max` (counted iteratively). */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length) {
    const [node, depth] = stack.pop()!;
    if (!node || typeof node !== 'object') continue;
    if (depth + 1 > max) return true;
    for (const item of Object.values(node)) stack.push([item, depth + 1]);
  }
  return false;
}

/** Right after the JSON parser: a body nested past MAX_JSON_DEPTH is 400 before anything walks it. */
export function refuseDeepBodies(req: Request, _res: Response, next: NextFunction): void {
  if (nestsDeeperThan(req.body, MAX_JSON_DEPTH)) return next(new ApiError('bad_request', `request body nests deeper than ${MAX_JSON_DEPTH} levels`));
  next();
}

const PER_ITEM = Symbol('signet:checked-per-item');

/** A DTO property whose items the route validates one by one (unfit text included): the pipe leaves it to the route. */
export const CheckedPerItem = (): PropertyDecorator => (target, property) => {
  const ctor = target.constructor as unknown as Record<symbol, Set<string | symbol>>;
  ctor[PER_ITEM] = new Set([...(ctor[PER_ITEM] ?? []), property]);
};

/** The properties of `metatype` marked @CheckedPerItem(). */
export function checkedPerItem(metatype: unknown): Set<string | symbol> {
  return (metatype as Record<symbol, Set<string | symbol>> | undefined)?.[PER_ITEM] ?? new Set();
}
