/**
 * Issue a certificate. The chosen profile drives the form: its key algorithms, validity bounds, usage,
 * name rules and whether a second person must approve. The signer's policy is still the judge (a refusal
 * shows the rule it names); the form only keeps people from typing what the profile will refuse.
 */
import { FormEvent, useMemo, useState } from 'react';
import { Approval, Ca, Certificate, KEY_ALGORITHMS, Page, Profile, USAGES, api } from '../api';
import { useSession } from '../app';
import { Link } from '../router';
import { Checkbox, ErrorNotice, Field, Loading, PageHeader, SecretOnce, formatDateTime, useAction, useLoad, splitList } from '../ui';

/** API.md section 5: `example.com` allows it and every name under it; `*.svc.example.com` only names directly under it. */
export function allowedByDomains(name: string, allowedDomains: string[]): boolean {
  if (allowedDomains.length === 0) return true;
  const lower = name.toLowerCase().replace(/^\*\./, '');
  return allowedDomains.some((rule) => {
    if (rule.startsWith('*.')) {
      const parent = rule.slice(2);
      return lower.endsWith(`.${parent}`) && !lower.slice(0, -parent.length - 1).includes('.');
    }
    return lower === rule || lower.endsWith(`.${rule}`);
  });
}

type Issued = { kind: 'issued'; certificate: Certificate; privateKey?: string } | { kind: 'pending'; approval: Approval };

export function IssuePage() {
  const session = useSession();
  const profiles = useLoad(() => api<Page & { profiles: Profile[] }>('/profiles', { query: { pageSize: 1000 } }), []);
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas'), []);
  const action = useAction();
  const [profileId, setProfileId] = useState('');
  const [caId, setCaId] = useState('');
  const [mode, setMode] = useState<'managed' | 'csr'>('managed');
  const [commonName, setCommonName] = useState('');
  const [sanDns, setSanDns] = useState('');
  const [sanIp, setSanIp] = useState('');
  const [keyAlgorithm, setKeyAlgorithm] = useState('');
  const [validityDays, setValidityDays] = useState('');
  const [usage, setUsage] = useState('server');
  const [csrPem, setCsrPem] = useState('');
  const [storeKey, setStoreKey] = useState(false);
  const [autoRenew, setAutoRenew] = useState(false);
  const [notes, setNotes] = useState('');
  const [result, setResult] = useState<Issued | null>(null);

  const issuable = (cas.data?.cas ?? []).filter((ca) => ca.status === 'active' && session.can(ca.id, 'issue'));
  const usableProfiles = (profiles.data?.profiles ?? []).filter((p) => session.can(p.caId, 'issue'));
  const profile = usableProfiles.find((p) => p.id === profileId) ?? null;
  const keyChoices = profile && profile.allowedKeyAlgorithms.length ? profile.allowedKeyAlgorithms : [...KEY_ALGORITHMS];
  const chosenKey = keyChoices.includes(keyAlgorithm) ? keyAlgorithm : keyChoices[0];
  const maxValidity = profile?.maxValidityDays ?? 397;
  // Approval needs the key kept until someone approves: managed mode then always stores it (API.md section 6).
  const mustStoreKey = !!profile?.requireApproval && mode === 'managed';

  const names = useMemo(() => [commonName, ...splitList(sanDns)].filter(Boolean), [commonName, sanDns]);
  const outside = profile ? names.filter((n) => !/^[0-9.:]+$/.test(n) && !allowedByDomains(n, profile.allowedDomains)) : [];
  const wildcards = profile && !profile.allowWildcards ? names.filter((n) => n.startsWith('*.')) : [];

  const submit = (event: FormEvent) => {
    event.preventDefault();
    setResult(null);
    action.run(async () => {
      const body: Record<string, unknown> = { mode };
      if (profile) body.profileId = profile.id;
      else body.caId = caId;
      if (commonName.trim()) body.commonName = commonName.trim();
      if (sanDns.trim()) body.sanDns = splitList(sanDns);
      if (sanIp.trim()) body.sanIp = splitList(sanIp);
      if (validityDays) body.validityDays = Number(validityDays);
      if (!profile) body.usage = usage;
      if (mode === 'managed') {
        body.keyAlgorithm = chosenKey;
        if (storeKey || mustStoreKey) body.storeKey = true;
      } else body.csrPem = csrPem;
      if (autoRenew) body.autoRenew = true;
      if (notes.trim()) body.notes = notes.trim();
      const answer = await api<{ certificate?: Certificate; privateKey?: string; approval?: Approval }>('/certificates', { method: 'POST', body });
      if (answer.approval) setResult({ kind: 'pending', approval: answer.approval });
      else if (answer.certificate) setResult({ kind: 'issued', certificate: answer.certificate, privateKey: answer.privateKey });
    });
  };

  if (profiles.error || cas.error) return <><PageHeader title="Issue a certificate" /><ErrorNotice error={profiles.error ?? cas.error} /></>;
  if (!profiles.data || !cas.data) return <Loading what="profiles and CAs" />;

  if (result?.kind === 'issued') {
    const c = result.certificate;
    return (
      <>
        <PageHeader title="Certificate issued" />
        <section className="panel" aria-labelledby="issued-title">
          <h2 id="issued-title">{c.commonName}</h2>
          <p>Serial <code>{c.serialNumber}</code>, valid to {formatDateTime(c.validTo)}. <Link to={`/certificates/${c.id}`}>Open the certificate</Link></p>
        </section>
        {result.privateKey && <SecretOnce title="Private key" value={result.privateKey} fileName={`${c.commonName.replace(/[^A-Za-z0-9._-]+/g, '_')}.key.pem`} />}
        <button type="button" className="secondary" onClick={() => setResult(null)}>Issue another</button>
      </>
    );
  }
  if (result?.kind === 'pending') {
    return (
      <>
        <PageHeader title="Waiting for approval" />
        <section className="panel" role="status">
          <p>
            The profile requires a second person: request <code>{result.approval.id}</code> for <strong>{result.approval.request.commonName}</strong> waits in the{' '}
            <Link to="/approvals">approvals queue</Link> until {formatDateTime(result.approval.expiresAt)}. Nothing is signed until someone else approves it.
          </p>
          {mode === 'managed' && <p>Once approved, its private key is downloaded from the certificate's page (format key), once.</p>}
        </section>
        <button type="button" className="secondary" onClick={() => setResult(null)}>Issue another</button>
      </>
    );
  }

  return (
    <>
      <PageHeader title="Issue a certificate" />
      {issuable.length === 0 && <p className="notice">This key may not issue from any active CA.</p>}
      <form onSubmit={submit} className="panel form-grid" aria-label="Issue a certificate">
        <Field label="Profile" hint="a profile decides names, keys, validity and approval">
          {(id, hint) => (
            <select id={id} aria-describedby={hint} value={profileId} onChange={(e) => setProfileId(e.target.value)}>
              <option value="">No profile (the CA's defaults)</option>
              {usableProfiles.map((p) => <option key={p.id} value={p.id}>{p.name}{p.requireApproval ? ' (approval)' : ''}</option>)}
            </select>
          )}
        </Field>
        {profile ? (
          <div className="profile-rules" aria-label="The profile's rules">
            <p><strong>{profile.name}</strong>{profile.description ? `: ${profile.description}` : ''}</p>
            <ul className="small">
              <li>CA: {cas.data.cas.find((ca) => ca.id === profile.caId)?.name ?? profile.caId}</li>
              <li>Names: {profile.allowedDomains.length ? profile.allowedDomains.join(', ') : 'any the CA permits'}{profile.allowWildcards ? '' : '; no wildcards'}{profile.allowIpSans ? '' : '; no IP addresses'}</li>
              <li>Validity: {profile.defaultValidityDays} days by default, at most {profile.maxValidityDays}</li>
              <li>Usage: {profile.usage}{profile.extendedKeyUsage?.length ? ` (${profile.extendedKeyUsage.join(', ')})` : ''}</li>
              {profile.requireApproval && <li><strong>Needs approval by another key</strong> (within {profile.approvalTtlHours} hours)</li>}
            </ul>
          </div>
        ) : (
          <Field label="CA">
            {(id) => (
              <select id={id} required value={caId} onChange={(e) => setCaId(e.target.value)}>
                <option value="">Choose a CA</option>
                {issuable.map((ca) => <option key={ca.id} value={ca.id}>{ca.name}</option>)}
              </select>
            )}
          </Field>
        )}
        <fieldset className="radio-group">
          <legend>Key</legend>
          <label><input type="radio" name="mode" value="managed" checked={mode === 'managed'} onChange={() => setMode('managed')} /> Signet makes the key pair</label>
          <label><input type="radio" name="mode" value="csr" checked={mode === 'csr'} onChange={() => setMode('csr')} /> I have a CSR</label>
        </fieldset>
        <Field label="Common name" hint={mode === 'csr' ? 'empty: from the CSR' : 'a DNS name or IP is also put in the SANs'}>
          {(id, hint) => <input id={id} aria-describedby={hint} required={mode === 'managed'} value={commonName} onChange={(e) => setCommonName(e.target.value)} />}
        </Field>
        <Field label="More DNS names" hint="comma or space separated">
          {(id, hint) => <input id={id} aria-describedby={hint} value={sanDns} onChange={(e) => setSanDns(e.target.value)} />}
        </Field>
        {(outside.length > 0 || wildcards.length > 0) && (
          <p className="notice warning" role="status">
            {outside.length > 0 && `Outside the profile's domains: ${outside.join(', ')}. `}
            {wildcards.length > 0 && 'The profile allows no wildcards.'}
          </p>
        )}
        {(!profile || profile.allowIpSans) && (
          <Field label="IP addresses" hint="comma or space separated">
            {(id, hint) => <input id={id} aria-describedby={hint} value={sanIp} onChange={(e) => setSanIp(e.target.value)} />}
          </Field>
        )}
        {mode === 'managed' ? (
          <Field label="Key algorithm">
            {(id) => (
              <select id={id} value={chosenKey} onChange={(e) => setKeyAlgorithm(e.target.value)}>
                {keyChoices.map((k) => <option key={k}>{k}</option>)}
              </select>
            )}
          </Field>
        ) : (
          <Field label="CSR (PEM)">{(id) => <textarea id={id} required rows={8} value={csrPem} onChange={(e) => setCsrPem(e.target.value)} />}</Field>
        )}
        <Field label="Validity (days)" hint={`at most ${maxValidity}; empty: ${profile ? profile.defaultValidityDays : 90}`}>
          {(id, hint) => <input id={id} aria-describedby={hint} type="number" min={1} max={maxValidity} value={validityDays} onChange={(e) => setValidityDays(e.target.value)} />}
        </Field>
        {!profile && (
          <Field label="Usage">
            {(id) => (
              <select id={id} value={usage} onChange={(e) => setUsage(e.target.value)}>
                {USAGES.map((u) => <option key={u}>{u}</option>)}
              </select>
            )}
          </Field>
        )}
        {mode === 'managed' && (
          <Checkbox
            label={mustStoreKey ? 'Keep the private key encrypted on the server (required: the key waits for approval)' : 'Keep the private key encrypted on the server for later download'}
            checked={storeKey || mustStoreKey}
            disabled={mustStoreKey}
            onChange={setStoreKey}
          />
        )}
        <Checkbox label="Renew automatically" checked={autoRenew} onChange={setAutoRenew} />
        <Field label="Notes">{(id) => <input id={id} maxLength={2000} value={notes} onChange={(e) => setNotes(e.target.value)} />}</Field>
        <ErrorNotice error={action.error} />
        <div className="actions">
          <button type="submit" disabled={action.busy || (!profile && !caId)}>{action.busy ? 'Issuing…' : profile?.requireApproval ? 'Request approval' : 'Issue'}</button>
        </div>
      </form>
    </>
  );
}
