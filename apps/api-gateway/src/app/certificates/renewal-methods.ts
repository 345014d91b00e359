/**
 * How a certificate from elsewhere is renewed (API.md section 8, `renewWith`), the one home for the
 * choice that import, PATCH and the import of a discovered certificate make:
 * - `{acmeAccountId, challengeType?, dnsProvider?}`: obtained anew from its outside ACME CA through that
 *   account (external-acme.service.ts);
 * - `{profileId}`: issued anew by a Signet CA under that profile of the org, same subject and names, a new
 *   key the signer makes and keeps. Whether the profile would issue it is the signer's to say: the
 *   renewal it would sign is sent to it as a check (certificate.check) before the choice is kept, so a
 *   profile whose names, key types or subject rules refuse the certificate is a 422 now, not a failed
 *   renewal weeks later.
 * A certificate has at most one way; choosing one drops the other.
 */
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { ProfileEntity, findLiveProfile, setRenewalProfile } from '@signet/persistence';
import { RenewableCertificate, renewalJob } from '@signet/queue';
import { ApiError } from '@signet/service';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { OrgPrincipal, requireOnCa } from '../access/principal';
import type { OrgCaller } from '../access/caller';
import type { RenewWithDto } from '../external-acme/external-acme.dto';
import { ExternalAcmeService, RenewalMethod } from '../external-acme/external-acme.service';
import { IssuanceService, actorOf } from './issuance.service';

export type RenewalChoice = { profile: ProfileEntity } | { outsideAcme: RenewalMethod };

/** A certificate from elsewhere as a renewal reads it (before import, `id` is the one it will get). */
export type CertificateFromElsewhere = Omit<RenewableCertificate, 'caId' | 'profileId' | 'renewProfileId'>;

@Injectable()
export class RenewalMethods {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly externalAcme: ExternalAcmeService,
    private readonly issuance: IssuanceService,
  ) {}

  /** `renewWith` checked for this certificate (with the autoRenew it will have); 4xx when it cannot renew it. */
  async choose(caller: OrgCaller, renewWith: RenewWithDto, certificate: CertificateFromElsewhere): Promise<RenewalChoice> {
    if ((renewWith.profileId === undefined) === (renewWith.acmeAccountId === undefined)) {
      throw ApiError.validation([{ field: 'renewWith', messages: ['renewWith takes either profileId (a Signet profile of the org) or acmeAccountId (an outside ACME account of the org)'] }]);
    }
    const acmeAccountId = renewWith.acmeAccountId;
    if (acmeAccountId !== undefined) return { outsideAcme: await this.externalAcme.renewalMethod(caller.principal.orgId, { ...renewWith, acmeAccountId }, certificate.sanDns) };
    if (renewWith.challengeType !== undefined || renewWith.dnsProvider !== undefined) {
      throw ApiError.validation([{ field: 'renewWith', messages: ['challengeType and dnsProvider go with acmeAccountId, not with profileId'] }]);
    }
    return { profile: await this.profileFor(caller, renewWith.profileId as string, certificate) };
  }

  /** Kept on the certificate (inside the caller's transaction). */
  async keep(manager: EntityManager, certificateId: string, choice: RenewalChoice): Promise<void> {
    if ('profile' in choice) await setRenewalProfile(manager, certificateId, choice.profile.id);
    else await this.externalAcme.keepRenewalMethod(manager, certificateId, choice.outsideAcme);
  }

  /** Whether it already has a way to renew (autoRenew may be switched on without renewWith). */
  async has(certificate: { id: string; renewProfileId: string | null }): Promise<boolean> {
    return certificate.renewProfileId !== null || (await this.externalAcme.renewsThroughAccount(certificate.id));
  }

  /** The CA of the live profile a certificate from elsewhere is renewed under, if this key may issue on it; 409 once that profile is deleted. */
  async renewalCaId(principal: OrgPrincipal, certificate: { renewProfileId: string | null }): Promise<string> {
    const profile = await this.issuableProfile(principal, certificate.renewProfileId as string);
    if (!profile) throw new ApiError('conflict', 'the profile this certificate is renewed under was deleted: give it another with PATCH renewWith {profileId}', { profileId: certificate.renewProfileId });
    return profile.caId;
  }

  /** The org's live profile (null when there is none), if this key may issue on its CA (403/404 otherwise). */
  private async issuableProfile(principal: OrgPrincipal, profileId: string): Promise<ProfileEntity | null> {
    const profile = await findLiveProfile(this.dataSource.manager, principal.orgId, profileId);
    if (profile) requireOnCa(principal, profile.caId, 'issue', 'profile');
    return profile;
  }

  /**
   * The org's live profile, if the caller may issue under it and the signer would sign this certificate's
   * renewal under it. A profile that asks for approval is refused: its first certificate for these names
   * would be signed by the sweep without anyone approving it.
   */
  private async profileFor(caller: OrgCaller, profileId: string, certificate: CertificateFromElsewhere): Promise<ProfileEntity> {
    const profile = await this.issuableProfile(caller.principal, profileId);
    if (!profile) throw ApiError.notFound('profile');
    if (profile.requireApproval) {
      throw new ApiError('policy_violation', `profile ${profile.slug} requires approval: a certificate from elsewhere renewed under it would be signed without one; choose a profile without requireApproval`, {
        rule: 'requireApproval', field: 'renewWith.profileId',
      });
    }
    const check = renewalJob({ ...certificate, caId: null, profileId: null, renewProfileId: profile.id }, {
      certificateId: randomUUID(), issuanceKey: `renew-check-${certificate.id}`, actor: actorOf(caller), profileCaId: profile.caId,
    });
    await this.issuance.check(check);
    return profile;
  }
}
