/**
 * ACME accounts (RFC 8555 7.3): newAccount (with onlyReturnExisting and external account binding),
 * update, deactivation and keyChange. An account belongs to one directory (profile).
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import {
  AcmeAccountRow, acmeAccountByThumbprint, acmeEabKeyByKeyId, changeAcmeAccountKey, insertAcmeAccount, insertAuditEvents, updateAcmeAccount,
} from '@signet/persistence';
import { SIGNER_JOBS } from '@signet/queue';
import { SignerClient } from '@signet/service';
import { JWK, calculateJwkThumbprint } from 'jose';
import { randomUUID } from 'node:crypto';
import { DataSource } from 'typeorm';
import { acmeOrders } from '../gateway-metrics';
import type { AcmeDirectory } from './acme-directory';
import { FlattenedJws, VerifiedJws, flattenedJwsOf, protectedHeaderOf, publicJwk, publicKeyOf, verifySignature } from './acme-jws';
import { AcmeProblem } from './acme-problem';

const MAX_CONTACTS = 10;
const MAILTO = /^mailto:[^\s@,;<>]{1,64}@[A-Za-z0-9.-]{1,253}$/;
const MAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'];

interface NewAccountPayload {
  contact?: unknown;
  termsOfServiceAgreed?: unknown;
  onlyReturnExisting?: unknown;
  externalAccountBinding?: unknown;
}

export interface AccountAnswer {
  account: AcmeAccountRow;
  created: boolean;
}

/** The account object of RFC 8555 7.1.2. */
export function accountView(directory: AcmeDirectory, account: AcmeAccountRow) {
  return {
    status: account.status,
    contact: account.contact,
    orders: directory.ordersUrl(account.id),
    ...(account.eabKeyId ? { externalAccountBinding: { kid: account.eabKeyId } } : {}),
    createdAt: account.createdAt.toISOString(),
  };
}

function contactsOf(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || value.length > MAX_CONTACTS) throw new AcmeProblem('invalidContact', `contact is a list of at most ${MAX_CONTACTS} mailto: URLs`);
  return value.map((c) => {
    if (typeof c !== 'string') throw new AcmeProblem('invalidContact', 'each contact is a string URL');
    if (!c.toLowerCase().startsWith('mailto:')) throw new AcmeProblem('unsupportedContact', 'only mailto: contacts are supported');
    if (!MAILTO.test(c)) throw new AcmeProblem('invalidContact', `"${c.slice(0, 100)}" is not a mailto: URL of one address`);
    return c;
  });
}

@Injectable()
export class AcmeAccountsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly signer: SignerClient,
  ) {}

  async newAccount(directory: AcmeDirectory, request: VerifiedJws<NewAccountPayload>, url: string, ip: string): Promise<AccountAnswer> {
    const payload = request.payload ?? {};
    const jwk = request.jwk!;
    const existing = await acmeAccountByThumbprint(this.dataSource.manager, directory.profile.id, jwk.thumbprint);
    if (existing) {
      if (existing.status !== 'valid') throw new AcmeProblem('unauthorized', `the account of this key is ${existing.status}`);
      return { account: existing, created: false };
    }
    if (payload.onlyReturnExisting === true) throw new AcmeProblem('accountDoesNotExist', 'no account of this directory has this key');
    const contact = contactsOf(payload.contact) ?? [];
    let eabKeyId: string | null = null;
    if (payload.externalAccountBinding !== undefined) {
      eabKeyId = await this.checkBinding(directory, payload.externalAccountBinding, jwk.key, url);
    } else if (directory.profile.acmeEabRequired) {
      throw new AcmeProblem('externalAccountRequired', 'this directory needs an external account binding: ask the CA operator for an EAB key id and HMAC key');
    }
    const result = await insertAcmeAccount(this.dataSource.manager, {
      id: randomUUID(), orgId: directory.org.id, profileId: directory.profile.id, jwk: jwk.key as unknown as Record<string, unknown>,
      jwkThumbprint: jwk.thumbprint, contact, eabKeyId,
    });
    if ('eabAlreadyBound' in result) throw new AcmeProblem('unauthorized', 'the external account binding key is already bound to another account');
    if (result.created) await this.audited(result.account, 'acme.account.create', ip, { profileId: directory.profile.id, eabKeyId, contact });
    return result;
  }

  /** An account's own change, in the audit log with the account as actor. */
  private async audited(account: AcmeAccountRow, eventType: string, ip: string, details: Record<string, unknown>): Promise<void> {
    await insertAuditEvents(this.dataSource.manager, [{
      orgId: account.orgId, eventType, outcome: 'success', actorType: 'acmeAccount', actorId: account.id, actorName: 'acme', ip,
      resourceType: 'acmeAccount', resourceId: account.id, details,
    }]);
  }

  /**
   * RFC 8555 7.3.4: the binding is a JWS MACed with the EAB key, over the new account's key, for this URL.
   * The MAC is checked by a signer (the only holder of the key); everything else here.
   */
  private async checkBinding(directory: AcmeDirectory, binding: unknown, accountKey: JWK, url: string): Promise<string> {
    const malformed = (detail: string) => new AcmeProblem('malformed', `externalAccountBinding: ${detail}`);
    let jws: FlattenedJws;
    let header: Record<string, unknown>;
    try {
      jws = flattenedJwsOf(binding);
      header = JSON.parse(Buffer.from(jws.protected, 'base64url').toString('utf8'));
    } catch {
      throw malformed('must be a flattened JWS');
    }
    if (typeof header !== 'object' || header === null) throw malformed('the protected header must be an object');
    if (typeof header.alg !== 'string' || !MAC_ALGORITHMS.includes(header.alg)) throw malformed(`alg must be one of ${MAC_ALGORITHMS.join(', ')}`);
    if ('nonce' in header) throw malformed('must not carry a nonce');
    if (header.url !== url) throw malformed('url must be the newAccount URL');
    if (typeof header.kid !== 'string' || header.kid.length > 200) throw malformed('kid must be the EAB key id');
    let boundKey: JWK;
    try {
      boundKey = JSON.parse(Buffer.from(jws.payload, 'base64url').toString('utf8'));
    } catch {
      throw malformed('the payload must be the account key (a JWK)');
    }
    let boundThumbprint: string;
    try {
      boundThumbprint = await calculateJwkThumbprint(publicJwk(boundKey), 'sha256');
    } catch {
      throw malformed('the payload must be the account key (a JWK)');
    }
    if (boundThumbprint !== (await calculateJwkThumbprint(accountKey, 'sha256'))) throw new AcmeProblem('unauthorized', 'externalAccountBinding binds another key than this account\'s');
    const eabKey = await acmeEabKeyByKeyId(this.dataSource.manager, header.kid);
    if (!eabKey || eabKey.profileId !== directory.profile.id) throw new AcmeProblem('unauthorized', 'externalAccountBinding: unknown EAB key id for this directory');
    if (eabKey.boundAccountId) throw new AcmeProblem('unauthorized', 'the external account binding key is already bound to another account');
    const { valid } = await this.signer.run(SIGNER_JOBS.verifyEab, { eabKeyId: eabKey.id, ...jws }, `eab-${eabKey.id}-${randomUUID()}`);
    if (!valid) throw new AcmeProblem('unauthorized', 'externalAccountBinding: the MAC does not verify with that EAB key');
    return eabKey.id;
  }

  /** POST to the account URL: POST-as-GET, a contact update, or deactivation (RFC 8555 7.3.2, 7.3.6). */
  async update(request: VerifiedJws<{ contact?: unknown; status?: unknown }>, accountId: string, ip: string): Promise<AcmeAccountRow> {
    const account = request.account!;
    if (account.id !== accountId) throw new AcmeProblem('unauthorized', 'an account may only read or change itself');
    const payload = request.payload;
    if (payload === undefined || (typeof payload === 'object' && payload !== null && Object.keys(payload).length === 0)) return account;
    if (typeof payload !== 'object' || payload === null) throw new AcmeProblem('malformed', 'the account update is a JSON object');
    if (payload.status !== undefined && payload.status !== 'deactivated') throw new AcmeProblem('malformed', 'status may only be set to "deactivated"');
    const { account: updated, invalidatedOrders } = await updateAcmeAccount(this.dataSource.manager, account.id, {
      contact: contactsOf(payload.contact),
      status: payload.status === 'deactivated' ? 'deactivated' : undefined,
    });
    acmeOrders.inc({ status: 'invalid' }, invalidatedOrders);
    if (!updated) throw new AcmeProblem('unauthorized', 'the account is no longer valid');
    await this.audited(updated, payload.status === 'deactivated' ? 'acme.account.deactivate' : 'acme.account.update', ip, { contact: updated.contact });
    return updated;
  }

  /** keyChange (RFC 8555 7.3.5): an inner JWS signed by the new key, inside one signed by the account. */
  async keyChange(directory: AcmeDirectory, request: VerifiedJws<unknown>, url: string, ip: string): Promise<AcmeAccountRow> {
    const account = request.account!;
    const inner = flattenedJwsOf(request.payload);
    const header = protectedHeaderOf(inner);
    if (!header.jwk) throw new AcmeProblem('malformed', 'the inner JWS of keyChange carries the new key as "jwk"');
    if (header.url !== url) throw new AcmeProblem('malformed', 'the inner JWS "url" must be the keyChange URL too');
    if (header.nonce !== undefined) throw new AcmeProblem('malformed', 'the inner JWS of keyChange must not carry a nonce');
    const newKey = publicJwk(header.jwk);
    const body = await verifySignature<{ account?: unknown; oldKey?: unknown }>(inner, await publicKeyOf(header.jwk, header.alg), header.alg);
    if (!body || body.account !== directory.accountUrl(account.id)) throw new AcmeProblem('malformed', 'the inner payload\'s "account" must be this account\'s URL');
    let oldThumbprint: string;
    try {
      oldThumbprint = await calculateJwkThumbprint(publicJwk(body.oldKey as JWK), 'sha256');
    } catch {
      throw new AcmeProblem('malformed', 'the inner payload\'s "oldKey" must be the account\'s current key');
    }
    if (oldThumbprint !== account.jwkThumbprint) throw new AcmeProblem('unauthorized', 'oldKey is not the account\'s current key');
    const thumbprint = await calculateJwkThumbprint(newKey, 'sha256');
    if (!(await changeAcmeAccountKey(this.dataSource.manager, account.id, newKey as unknown as Record<string, unknown>, thumbprint))) {
      const holder = await acmeAccountByThumbprint(this.dataSource.manager, directory.profile.id, thumbprint);
      throw new AcmeProblem('malformed', 'another account already uses the new key', {
        status: 409, headers: holder ? { Location: directory.accountUrl(holder.id) } : {},
      });
    }
    await this.audited(account, 'acme.account.keyChange', ip, { oldThumbprint: account.jwkThumbprint, newThumbprint: thumbprint });
    return { ...account, jwk: newKey as unknown as Record<string, unknown>, jwkThumbprint: thumbprint };
  }
}
