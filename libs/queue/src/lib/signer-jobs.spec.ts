import { CreateCaJob, SIGNER_JOBS, SignerJobPayload, SignerJobResult, decodeJobFailure, encodeJobFailure } from './signer-jobs';
import { validateJob } from './validate-job';

const valid = {
  caId: '6f1c2d9e-0000-4000-8000-000000000001',
  orgId: '6f1c2d9e-0000-4000-8000-000000000002',
  name: 'Root',
  subject: { commonName: 'Root CA' },
  keyAlgorithm: 'ECDSA-P256',
  validityDays: 3650,
  actor: { type: 'apiKey', id: 'k', name: 'n', ip: '127.0.0.1' },
};

describe('signer job contracts', () => {
  it('accept a well-formed payload and refuse unknown or malformed fields', () => {
    expect('job' in validateJob(CreateCaJob, valid)).toBe(true);
    expect(validateJob(CreateCaJob, { ...valid, keyAlgorithm: 'DSA', extra: 1 })).toEqual({ errors: expect.arrayContaining(['keyAlgorithm', 'extra']) });
    expect(validateJob(CreateCaJob, { ...valid, subject: { commonName: '' } })).toEqual({ errors: ['subject'] });
  });

  it('carry refusals through failedReason', () => {
    expect(decodeJobFailure(encodeJobFailure({ code: 'ca_unavailable', message: 'revoked' }))).toEqual({ code: 'ca_unavailable', message: 'revoked' });
    expect(decodeJobFailure('plain error')).toBeNull();
  });
});

describe('sealed box', () => {
  it('opens only with the recipient key and refuses tampering', () => {
    const { newRecipient, seal, open } = jest.requireActual('./sealed-box') as typeof import('./sealed-box');
    const recipient = newRecipient();
    const sealed = seal('-----BEGIN PRIVATE KEY-----\nsecret\n', recipient.publicKeyBase64);
    expect(sealed).not.toContain('secret');
    expect(open(sealed, recipient.privateKey)).toBe('-----BEGIN PRIVATE KEY-----\nsecret\n');
    expect(() => open(sealed, newRecipient().privateKey)).toThrow();
    const tampered = Buffer.from(sealed, 'base64');
    tampered[tampered.length - 1] ^= 1;
    expect(() => open(tampered.toString('base64'), recipient.privateKey)).toThrow();
  });
});

describe('the signer job registry', () => {
  it('types producers and the dispatch from one table (checked by the type-checker: npm run typecheck)', () => {
    // @ts-expect-error a job name the registry does not know does not compile
    const misspelled: SignerJobPayload<'certificate.isue'> | undefined = undefined;
    // @ts-expect-error another job's result does not compile
    const wrongResult: SignerJobResult<typeof SIGNER_JOBS.createCa> = { outcomes: [] };
    const right: SignerJobResult<typeof SIGNER_JOBS.issueMany> = { outcomes: [] };
    expect([misspelled, wrongResult, right.outcomes]).toEqual([undefined, { outcomes: [] }, []]);
  });
});
