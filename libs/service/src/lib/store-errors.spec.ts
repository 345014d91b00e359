import { ApiError } from './errors';
import { toApiError } from './exception.filter';
import { isStoreUnavailable, isStoreUnavailableMessage } from './store-errors';

describe('store outages are 503 retryable, not 500', () => {
  it.each([
    ['pg: connection refused', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' })],
    ['pg: server went away mid-query (TypeORM QueryFailedError)', Object.assign(new Error('Connection terminated unexpectedly'), { driverError: new Error('Connection terminated unexpectedly') })],
    ['pg: admin shutdown', Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' })],
    ['pg: starting up', Object.assign(new Error('the database system is starting up'), { code: '57P03' })],
    ['pg: connection exception class', Object.assign(new Error('x'), { code: '08006' })],
    ['pg-pool: connect timeout', new Error('timeout exceeded when trying to connect')],
    ['ioredis: closed', new Error('Connection is closed.')],
    ['wrapped in a cause', new Error('outer', { cause: Object.assign(new Error('inner'), { code: 'ECONNRESET' }) })],
  ])('%s', (_, error) => {
    expect(isStoreUnavailable(error)).toBe(true);
    const mapped = toApiError(error);
    expect(mapped).toBeInstanceOf(ApiError);
    expect({ status: mapped?.status, code: mapped?.code, details: mapped?.details }).toEqual({ status: 503, code: 'service_unavailable', details: { retryable: true } });
  });

  it.each([
    ['a constraint violation', Object.assign(new Error('duplicate key value violates unique constraint'), { code: '23505' })],
    ['a syntax error', Object.assign(new Error('syntax error at or near'), { code: '42601' })],
    ['a bug', new TypeError("Cannot read properties of undefined (reading 'id')")],
  ])('%s stays unexpected (500)', (_, error) => {
    expect(isStoreUnavailable(error)).toBe(false);
    expect(toApiError(error)).toBeNull();
  });

  it('reads a failed job’s message', () => {
    expect(isStoreUnavailableMessage('connect ECONNREFUSED 127.0.0.1:6379')).toBe(true);
    expect(isStoreUnavailableMessage('read ECONNRESET')).toBe(true);
    expect(isStoreUnavailableMessage('the CA key could not be decrypted')).toBe(false);
  });
});
