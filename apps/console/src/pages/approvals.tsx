/** The four-eyes queue (API.md section 6): requests waiting for a second key, approved or rejected with a reason. */
import { FormEvent, useState } from 'react';
import { Approval, Ca, Certificate, Page, Profile, api } from '../api';
import { useSession } from '../app';
import { Link } from '../router';
import { Badge, ErrorNotice, Field, Loading, PageHeader, Pager, formatDateTime, list, useAction, useLoad } from '../ui';

function Decide({ approval, hasPassphrase, onDecided }: { approval: Approval; hasPassphrase: boolean; onDecided: (message: string) => void }) {
  const action = useAction();
  const [reason, setReason] = useState('');
  const [caPassphrase, setCaPassphrase] = useState('');
  const approve = () =>
    action.run(async () => {
      const body = caPassphrase ? { caPassphrase } : {};
      const answer = await api<{ approval: Approval; certificate: Certificate }>(`/approvals/${approval.id}/approve`, { method: 'POST', body });
      onDecided(`Approved: ${answer.certificate.commonName} issued (serial ${answer.certificate.serialNumber}).`);
    });
  const reject = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      await api(`/approvals/${approval.id}/reject`, { method: 'POST', body: { reason: reason.trim() } });
      onDecided(`Rejected the request for ${approval.request.commonName}.`);
    });
  };
  return (
    <form onSubmit={reject} className="decide">
      {hasPassphrase && (
        <Field label="CA passphrase" hint="this CA signs only with its passphrase">
          {(id, hint) => <input id={id} aria-describedby={hint} type="password" autoComplete="off" value={caPassphrase} onChange={(e) => setCaPassphrase(e.target.value)} />}
        </Field>
      )}
      <Field label={`Reason for ${approval.request.commonName}`} hint="required to reject">
        {(id, hint) => <input id={id} aria-describedby={hint} maxLength={1000} value={reason} onChange={(e) => setReason(e.target.value)} />}
      </Field>
      <div className="actions">
        <button type="button" onClick={approve} disabled={action.busy}>Approve</button>
        <button type="submit" className="danger" disabled={action.busy || !reason.trim()}>Reject</button>
      </div>
      <ErrorNotice error={action.error} />
    </form>
  );
}

export function ApprovalsPage() {
  const session = useSession();
  const [status, setStatus] = useState('pending');
  const [page, setPage] = useState(1);
  const [message, setMessage] = useState<string | null>(null);
  const approvals = useLoad(() => api<Page & { approvals: Approval[] }>('/approvals', { query: { status, page, pageSize: 20 } }), [status, page]);
  const profiles = useLoad(() => api<Page & { profiles: Profile[] }>('/profiles', { query: { pageSize: 1000 } }), []);
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas'), []);
  const profileName = (id: string) => profiles.data?.profiles.find((p) => p.id === id)?.name ?? id.slice(0, 8);
  return (
    <>
      <PageHeader title="Approvals" />
      <div className="filters">
        <Field label="Status">
          {(id) => (
            <select id={id} value={status} onChange={(e) => { setStatus(e.target.value); setPage(1); }}>
              {['pending', 'approved', 'rejected', 'expired', 'all'].map((s) => <option key={s}>{s}</option>)}
            </select>
          )}
        </Field>
      </div>
      {message && <p className="notice success" role="status">{message}</p>}
      <ErrorNotice error={approvals.error} />
      {approvals.data ? (
        <>
          {approvals.data.approvals.length === 0 && <p className="muted">No {status === 'all' ? '' : status} requests.</p>}
          <ul className="cards">
            {approvals.data.approvals.map((a) => (
              <li key={a.id} className="panel">
                <h2 className="card-title">{a.request.commonName} <Badge value={a.status} /></h2>
                <dl className="details compact">
                  <div><dt>Profile</dt><dd>{profileName(a.profileId)}</dd></div>
                  <div><dt>Names</dt><dd>{list([...a.request.sanDns, ...a.request.sanIp])}</dd></div>
                  <div><dt>Key</dt><dd>{a.request.mode}, {a.request.keyAlgorithm ?? 'from the CSR'}</dd></div>
                  <div><dt>Validity</dt><dd>{a.request.validityDays ?? 'profile default'} days, {a.request.usage}</dd></div>
                  <div><dt>Requested by</dt><dd>{a.requestedBy.name ?? a.requestedBy.type}, {formatDateTime(a.createdAt)}</dd></div>
                  <div><dt>Expires</dt><dd>{formatDateTime(a.expiresAt)}</dd></div>
                  {a.decidedBy && <div><dt>Decided by</dt><dd>{a.decidedBy.name ?? a.decidedBy.type}, {formatDateTime(a.decidedAt)}{a.reason ? `: ${a.reason}` : ''}</dd></div>}
                  {a.certificateId && <div><dt>Certificate</dt><dd><Link to={`/certificates/${a.certificateId}`}>open</Link></dd></div>}
                </dl>
                {a.status === 'pending' && session.can(a.caId, 'approve') && a.requestedBy.id !== session.whoami.apiKey.id && (
                  <Decide approval={a} hasPassphrase={!!cas.data?.cas.find((ca) => ca.id === a.caId)?.hasPassphrase} onDecided={(text) => { setMessage(text); approvals.reload(); }} />
                )}
                {a.status === 'pending' && a.requestedBy.id === session.whoami.apiKey.id && <p className="muted small">Your own request: another key must decide it.</p>}
              </li>
            ))}
          </ul>
          <Pager page={approvals.data} onPage={setPage} label="Approvals" />
        </>
      ) : !approvals.error && <Loading what="approvals" />}
    </>
  );
}
