import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { enrollmentPoliciesChannel } from '@signet/queue';
import { RunningService, stopService } from '@signet/testing';
import Redis from 'ioredis';
import request from 'supertest';
import { bearer, createKey, createOrg, expectErrorShape, startGateway, startSigner } from './support';

describe('enrollment policies', () => {
  let gateway: NestFastifyApplication;
  let signer: RunningService;
  let http: ReturnType<NestFastifyApplication['getHttpServer']>;
  let adminKey: string;
  let rootId: string;
  let issuingId: string;

  beforeAll(async () => {
    signer = await startSigner();
    gateway = await startGateway();
    http = gateway.getHttpServer();
    adminKey = (await createOrg(gateway, 'Enrollment org')).adminKey;
    const ca = (body: object) => request(http).post('/api/v1/cas').set(bearer(adminKey)).send(body).expect(201);
    rootId = (await ca({ name: 'Bootstrap', subject: { commonName: 'Bootstrap CA' } })).body.ca.id;
    issuingId = (await ca({ name: 'Devices', subject: { commonName: 'Device CA' }, parentCaId: rootId })).body.ca.id;
  });
  afterAll(async () => {
    await gateway.close();
    expect(await stopService(signer)).toBe(0);
  });

  it('creates, lists and deletes policies, audited, announcing each change on Redis', async () => {
    const subscriber = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
    const announced: string[] = [];
    await subscriber.subscribe(enrollmentPoliciesChannel(process.env.QUEUE_PREFIX as string));
    subscriber.on('message', (_channel, message) => announced.push(message));
    try {
      const created = await request(http).post('/api/v1/enrollment-policies').set(bearer(adminKey))
        .send({ name: 'Sensors', trustedCaIds: [rootId], issuingCaId: issuingId, allowedKeyAlgorithms: ['ECDSA-P256'], subjectRule: 'match-client-cn' })
        .expect(201);
      expect(created.body.policy).toMatchObject({
        id: expect.any(String), name: 'Sensors', trustedCaIds: [rootId], issuingCaId: issuingId, validityDays: 90, usage: 'client',
        allowedKeyAlgorithms: ['ECDSA-P256'], subjectRule: 'match-client-cn', createdAt: expect.any(String),
      });
      const list = await request(http).get('/api/v1/enrollment-policies').set(bearer(adminKey)).expect(200);
      expect(list.body).toMatchObject({ policies: [expect.objectContaining({ id: created.body.policy.id })], total: 1, page: 1, pageSize: 20, totalPages: 1 });
      await request(http).delete(`/api/v1/enrollment-policies/${created.body.policy.id}`).set(bearer(adminKey)).expect(204);
      await request(http).delete(`/api/v1/enrollment-policies/${created.body.policy.id}`).set(bearer(adminKey)).expect(404);
      expect((await request(http).get('/api/v1/enrollment-policies').set(bearer(adminKey))).body.total).toBe(0);
      const audit = await request(http).get('/api/v1/audit?eventType=enrollmentPolicy.&outcome=success').set(bearer(adminKey)).expect(200);
      expect(audit.body.events.map((e: { eventType: string }) => e.eventType).sort()).toEqual(['enrollmentPolicy.create', 'enrollmentPolicy.delete']);
      for (let i = 0; i < 50 && announced.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(announced).toHaveLength(2);
    } finally {
      subscriber.disconnect();
    }
  });

  it('refuses bad input and unknown CAs with clear errors, and non-admins', async () => {
    const post = (body: object, key = adminKey) => request(http).post('/api/v1/enrollment-policies').set(bearer(key)).send(body);
    const bad = await post({ name: '', trustedCaIds: [], issuingCaId: 'x', validityDays: 1000, allowedKeyAlgorithms: ['DSA'], subjectRule: 'whatever' }).expect(400);
    expect(bad.body.details.fields.map((f: { field: string }) => f.field)).toEqual(
      expect.arrayContaining(['name', 'trustedCaIds', 'issuingCaId', 'validityDays', 'allowedKeyAlgorithms', 'subjectRule']),
    );
    expectErrorShape((await post({ name: 'x', trustedCaIds: ['00000000-0000-4000-8000-000000000000'], issuingCaId: issuingId, subjectRule: 'any' }).expect(404)).body, 'not_found', 404);
    expect((await post({ name: 'x', trustedCaIds: [rootId], issuingCaId: issuingId, subjectRule: 'any', usage: 'teleport' }).expect(400)).body.details.fields[0].field).toBe('usage');
    const member = await createKey(gateway, adminKey, { name: 'm', role: 'member' });
    await post({ name: 'x', trustedCaIds: [rootId], issuingCaId: issuingId, subjectRule: 'any' }, member.key).expect(403);
    expect((await request(http).get('/api/v1/enrollment-policies').set(bearer(adminKey))).body.total).toBe(0);
  });
});
