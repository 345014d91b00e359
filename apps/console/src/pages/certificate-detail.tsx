/** One certificate: every field, downloads in each format, revoke with a reason, renew, renewal settings. */
import { FormEvent, useState } from 'react';
import { Ca, Certificate, REVOCATION_REASONS, api, download } from '../api';
import { useSession } from '../app';
import { Link, navigate } from '../router';
import { Badge, Checkbox, Details, ErrorNotice, Field, Loading, PageHeader, SecretOnce, formatDateTime, list, useAction, useLoad } from '../ui';

const FORMATS: { format: string; label: string; needs?: (c: Certificate) => boolean }[] = [
  { format: 'pem', label: 'PEM' },
  { format: 'der', label: 'DER' },
  { format: 'chain', label: 'Chain' },
  { format: 'fullchain', label: 'Full chain' },
  { format: 'key', label: 'Private key', needs: (c) => c.hasStoredKey },
  { format: 'csr', label: 'CSR', needs: (c) => c.mode === 'csr' },
  { format: 'json', label: 'JSON' },
  { format: 'zip', label: 'ZIP' },
];

function Downloads({ certificate }: { certificate: Certificate }) {
  const action = useAction();
  const [password, setPassword] = useState('');
  const [legacy, setLegacy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const base = certificate.commonName.replace(/[^A-Za-z0-9._-]+/g, '_') || certificate.serialNumber;
  // POST with a JSON body for every format: one way, and a PKCS#12 password never travels in a URL.
  const get = (format: string, extra: Record<string, unknown> = {}) =>
    action.run(async () => {
      const name = await download(`/certificates/${certificate.id}/download`, { method: 'POST', body: { format, ...extra }, fallbackName: `${base}.${format}` });
      setSaved(name);
    });
  const p12 = (event: FormEvent) => {
    event.preventDefault();
    get('p12', { password, legacy });
  };
  return (
    <section aria-labelledby="downloads-title" className="panel">
      <h2 id="downloads-title">Download</h2>
      <div className="actions">
        {FORMATS.filter((f) => !f.needs || f.needs(certificate)).map((f) => (
          <button key={f.format} type="button" className="secondary" onClick={() => get(f.format)} disabled={action.busy}>{f.label}</button>
        ))}
      </div>
      {certificate.hasStoredKey && (
        <form onSubmit={p12} className="inline-form">
          <Field label="PKCS#12 password">
            {(id) => <input id={id} type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />}
          </Field>
          <Checkbox label="Legacy (3DES, for old readers)" checked={legacy} onChange={setLegacy} />
          <button type="submit" className="secondary" disabled={action.busy}>PKCS#12</button>
        </form>
      )}
      <p role="status" className="muted small">{saved ? `Saved ${saved}.` : ''}</p>
      <ErrorNotice error={action.error} />
    </section>
  );
}

function Revoke({ certificate, onDone }: { certificate: Certificate; onDone: () => void }) {
  const action = useAction();
  const [reason, setReason] = useState('unspecified');
  const [comments, setComments] = useState('');
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!window.confirm(`Revoke ${certificate.commonName || certificate.serialNumber} (${reason})? This cannot be undone.`)) return;
    action.run(async () => {
      await api(`/certificates/${certificate.id}/revoke`, { method: 'POST', body: { reason, ...(comments.trim() && { comments: comments.trim() }) } });
      onDone();
    });
  };
  return (
    <form onSubmit={submit} className="panel" aria-labelledby="revoke-title">
      <h2 id="revoke-title">Revoke</h2>
      <p className="muted">OCSP answers revoked at once; the CA's CRL follows within seconds. This cannot be undone.</p>
      <Field label="Reason">
        {(id) => (
          <select id={id} value={reason} onChange={(e) => setReason(e.target.value)}>
            {REVOCATION_REASONS.map((r) => <option key={r}>{r}</option>)}
          </select>
        )}
      </Field>
      <Field label="Comments">{(id) => <input id={id} maxLength={500} value={comments} onChange={(e) => setComments(e.target.value)} />}</Field>
      <ErrorNotice error={action.error} />
      <button type="submit" className="danger" disabled={action.busy}>{action.busy ? 'Revoking…' : 'Revoke certificate'}</button>
    </form>
  );
}

function Renew({ certificate }: { certificate: Certificate }) {
  const session = useSession();
  const action = useAction();
  const [validityDays, setValidityDays] = useState('');
  const [csrPem, setCsrPem] = useState('');
  const [revokeOld, setRevokeOld] = useState(false);
  const [renewed, setRenewed] = useState<{ certificate: Certificate; privateKey?: string } | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      const body: Record<string, unknown> = { revokeOld };
      if (validityDays) body.validityDays = Number(validityDays);
      if (certificate.mode === 'csr') body.csrPem = csrPem;
      setRenewed(await api<{ certificate: Certificate; privateKey?: string }>(`/certificates/${certificate.id}/renew`, { method: 'POST', body }));
    });
  };
  if (renewed) {
    return (
      <section className="panel" aria-labelledby="renewed-title">
        <h2 id="renewed-title">Renewed</h2>
        <p>The new certificate: <Link to={`/certificates/${renewed.certificate.id}`}>{renewed.certificate.serialNumber}</Link>, valid to {formatDateTime(renewed.certificate.validTo)}.</p>
        {renewed.privateKey && <SecretOnce title="New private key" value={renewed.privateKey} fileName={`${certificate.commonName || 'certificate'}.key.pem`} />}
      </section>
    );
  }
  return (
    <form onSubmit={submit} className="panel" aria-labelledby="renew-title">
      <h2 id="renew-title">Renew</h2>
      <p className="muted">Same subject, names, usage and CA; a new serial{certificate.mode === 'managed' ? ' and a new key pair' : ''}.</p>
      <Field label="Validity (days)" hint="empty: as the profile or CA decides">
        {(id, hint) => <input id={id} aria-describedby={hint} type="number" min={1} max={397} value={validityDays} onChange={(e) => setValidityDays(e.target.value)} />}
      </Field>
      {certificate.mode === 'csr' && (
        <Field label="New CSR (PEM)">{(id) => <textarea id={id} required rows={6} value={csrPem} onChange={(e) => setCsrPem(e.target.value)} />}</Field>
      )}
      {session.can(certificate.caId, 'revoke') && <Checkbox label="Revoke the old certificate (superseded)" checked={revokeOld} onChange={setRevokeOld} />}
      <ErrorNotice error={action.error} />
      <button type="submit" disabled={action.busy}>{action.busy ? 'Renewing…' : 'Renew certificate'}</button>
    </form>
  );
}

function Settings({ certificate, onSaved }: { certificate: Certificate; onSaved: () => void }) {
  const action = useAction();
  const [autoRenew, setAutoRenew] = useState(certificate.autoRenew);
  const [threshold, setThreshold] = useState(String(certificate.renewalThresholdDays ?? ''));
  const [notes, setNotes] = useState(certificate.notes ?? '');
  const [saved, setSaved] = useState(false);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setSaved(false);
    action.run(async () => {
      await api(`/certificates/${certificate.id}`, {
        method: 'PATCH',
        body: { autoRenew, notes: notes.trim() || null, ...(threshold && { renewalThresholdDays: Number(threshold) }) },
      });
      setSaved(true);
      onSaved();
    });
  };
  return (
    <form onSubmit={submit} className="panel" aria-labelledby="settings-title">
      <h2 id="settings-title">Renewal and notes</h2>
      <Checkbox label="Renew automatically" checked={autoRenew} onChange={setAutoRenew} />
      <Field label="Renew this many days before expiry">
        {(id) => <input id={id} type="number" min={1} max={397} value={threshold} onChange={(e) => setThreshold(e.target.value)} />}
      </Field>
      <Field label="Notes">{(id) => <textarea id={id} rows={3} maxLength={2000} value={notes} onChange={(e) => setNotes(e.target.value)} />}</Field>
      <ErrorNotice error={action.error} />
      <button type="submit" disabled={action.busy}>Save</button>
      <p role="status" className="muted small">{saved ? 'Saved.' : ''}</p>
    </form>
  );
}

export function CertificateDetailPage({ id }: { id: string }) {
  const session = useSession();
  const loaded = useLoad(() => api<{ certificate: Certificate }>(`/certificates/${id}`), [id]);
  const c = loaded.data?.certificate;
  const ca = useLoad(() => (c?.caId ? api<{ ca: Ca }>(`/cas/${c.caId}`).then((a) => a.ca, () => null) : Promise.resolve(null)), [c?.caId]);
  if (loaded.error) {
    return (
      <>
        <PageHeader title="Certificate" />
        <ErrorNotice error={loaded.error} />
        <p><Link to="/certificates">Back to certificates</Link></p>
      </>
    );
  }
  if (!c) return <Loading what="the certificate" />;
  const ownCa = c.caId !== null;
  return (
    <>
      <PageHeader title={c.commonName || c.serialNumber}>
        <button type="button" className="secondary" onClick={() => navigate('/certificates')}>All certificates</button>
      </PageHeader>
      <section className="panel" aria-labelledby="fields-title">
        <h2 id="fields-title">Details</h2>
        <Details
          rows={[
            ['Status', <><Badge value={c.status} />{c.expiringSoon && c.status === 'active' && <> <Badge value="expiring" /></>}</>],
            ['Common name', c.commonName],
            ['Subject', Object.entries(c.subject ?? {}).map(([k, v]) => `${k}=${v}`).join(', ')],
            ['DNS names', list(c.sanDns)],
            ['IP addresses', list(c.sanIp)],
            ['Email addresses', list(c.sanEmail)],
            ['URIs', list(c.sanUri)],
            ['Issuing CA', ownCa ? <Link to={`/cas/${c.caId}`}>{ca.data?.name ?? c.caId}</Link> : null],
            ['Issuer', c.issuer],
            ['Source', c.source],
            ['Profile', c.profileId],
            ['Environment', c.environment],
            ['Key algorithm', c.keyAlgorithm],
            ['Mode', c.mode],
            ['Serial number', <code className="wrap">{c.serialNumber}</code>],
            ['SHA-256 fingerprint', <code className="wrap">{c.fingerprintSha256}</code>],
            ['Usage', c.usage],
            ['Extended key usage', list(c.extendedKeyUsage)],
            ['Valid from', formatDateTime(c.validFrom)],
            ['Valid to', `${formatDateTime(c.validTo)}${c.status === 'active' ? ` (${c.daysRemaining} days left)` : ''}`],
            ['Revoked', c.revokedAt ? `${formatDateTime(c.revokedAt)}, ${c.revocationReason}` : null],
            ['Automatic renewal', c.autoRenew ? `on, ${c.renewalThresholdDays ?? 30} days before expiry` : 'off'],
            ['Renewal state', c.renewal ? `${c.renewal.status}${c.renewal.lastError ? `: ${c.renewal.lastError}` : ''}${c.renewal.nextAttemptAt ? `, next attempt ${formatDateTime(c.renewal.nextAttemptAt)}` : ''}` : null],
            ['Renewed from', c.renewedFromId ? <Link to={`/certificates/${c.renewedFromId}`}>{c.renewedFromId}</Link> : null],
            ['Superseded by', c.supersededById ? <Link to={`/certificates/${c.supersededById}`}>{c.supersededById}</Link> : null],
            ['Stored private key', c.hasStoredKey ? 'yes (encrypted at rest)' : 'no'],
            ['ACME account', c.acmeAccountId],
            ['Notes', c.notes],
            ['Created', formatDateTime(c.createdAt)],
            ['Id', <code>{c.id}</code>],
          ]}
        />
        {c.certificatePem && (
          <details>
            <summary>Certificate PEM</summary>
            <pre className="pem">{c.certificatePem}</pre>
          </details>
        )}
      </section>
      <Downloads certificate={c} />
      <div className="columns">
        {ownCa && c.status === 'active' && session.can(c.caId, 'revoke') && <Revoke certificate={c} onDone={loaded.reload} />}
        {ownCa && c.status !== 'revoked' && !c.supersededById && session.can(c.caId, 'issue') && <Renew certificate={c} />}
        {session.can(c.caId, 'issue') && <Settings certificate={c} onSaved={loaded.reload} />}
      </div>
    </>
  );
}
