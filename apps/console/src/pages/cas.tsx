/** The CA hierarchy as a tree, one CA's details, its chain and CRL, and a form for a new root or intermediate. */
import { FormEvent, useState } from 'react';
import { Ca, KEY_ALGORITHMS, REVOCATION_REASONS, api, download, saveBlob } from '../api';
import { useSession } from '../app';
import { Link, navigate } from '../router';
import { Badge, Checkbox, Details, ErrorNotice, Field, Loading, PageHeader, formatDateTime, list, splitList, useAction, useLoad } from '../ui';

interface CaNode {
  ca: Ca;
  children: CaNode[];
}

/** Roots first, each CA under its parent; a CA whose parent is not visible to this key is shown as a root. */
export function caTree(cas: Ca[]): CaNode[] {
  const nodes = new Map(cas.map((ca) => [ca.id, { ca, children: [] as CaNode[] }]));
  const roots: CaNode[] = [];
  for (const node of nodes.values()) {
    const parent = node.ca.parentCaId ? nodes.get(node.ca.parentCaId) : undefined;
    (parent ? parent.children : roots).push(node);
  }
  const sort = (list: CaNode[]) => {
    list.sort((a, b) => a.ca.name.localeCompare(b.ca.name));
    list.forEach((n) => sort(n.children));
  };
  sort(roots);
  return roots;
}

function Tree({ nodes, selectedId }: { nodes: CaNode[]; selectedId: string | null }) {
  return (
    <ul className="tree">
      {nodes.map(({ ca, children }) => (
        <li key={ca.id}>
          <Link to={`/cas/${ca.id}`} current={ca.id === selectedId}>
            {ca.name}
          </Link>{' '}
          <span className="muted small">{ca.type}</span> {ca.status !== 'active' && <Badge value={ca.status} />}
          {children.length > 0 && <Tree nodes={children} selectedId={selectedId} />}
        </li>
      ))}
    </ul>
  );
}

interface CrlInfo {
  crlNumber: string;
  thisUpdate: string;
  nextUpdate: string;
  revokedCount: number;
}

function CaDetail({ id, onChanged }: { id: string; onChanged: () => void }) {
  const session = useSession();
  const loaded = useLoad(() => api<{ ca: Ca }>(`/cas/${id}`), [id]);
  const crl = useLoad(() => api<CrlInfo>(`/cas/${id}/crl`, { query: { format: 'info' } }), [id]);
  const action = useAction();
  const [reason, setReason] = useState('cessationOfOperation');
  const ca = loaded.data?.ca;
  if (loaded.error) return <ErrorNotice error={loaded.error} />;
  if (!ca) return <Loading what="the CA" />;
  const fileBase = ca.name.replace(/[^A-Za-z0-9._-]+/g, '_');
  const downloadChain = () =>
    action.run(async () => {
      const answer = await api<{ chain: string[] }>(`/cas/${id}/chain`);
      saveBlob(new Blob([answer.chain.join('')], { type: 'application/x-pem-file' }), `${fileBase}-chain.pem`);
    });
  const revoke = (event: FormEvent) => {
    event.preventDefault();
    if (!window.confirm(`Revoke ${ca.name}? Issuing from it stops and its certificate lands on its parent's CRL.`)) return;
    action.run(async () => {
      await api(`/cas/${id}/revoke`, { method: 'POST', body: { reason } });
      loaded.reload();
      onChanged();
    });
  };
  return (
    <section aria-labelledby="ca-title" className="panel">
      <h2 id="ca-title">{ca.name}</h2>
      <Details
        rows={[
          ['Status', <Badge value={ca.status} />],
          ['Type', ca.type],
          ['Subject', Object.entries(ca.subject).map(([k, v]) => `${k}=${v}`).join(', ')],
          ['Key algorithm', ca.keyAlgorithm],
          ['Serial number', <code>{ca.serialNumber}</code>],
          ['SHA-256 fingerprint', <code className="wrap">{ca.fingerprintSha256}</code>],
          ['Valid from', formatDateTime(ca.validFrom)],
          ['Valid to', formatDateTime(ca.validTo)],
          ['Path length', ca.pathLength ?? 'unlimited'],
          ['Permitted DNS domains', list(ca.permittedDnsDomains)],
          ['Passphrase', ca.hasPassphrase ? 'required to sign' : 'none'],
          ['CRL', <code className="wrap">{ca.crlUrl}</code>],
          ['OCSP', <code className="wrap">{ca.ocspUrl}</code>],
          ['Revoked', ca.revokedAt ? `${formatDateTime(ca.revokedAt)} (${ca.revocationReason})` : null],
          ['CRL number', crl.data ? `${crl.data.crlNumber}, ${crl.data.revokedCount} revoked, next update ${formatDateTime(crl.data.nextUpdate)}` : null],
          ['Id', <code>{ca.id}</code>],
        ]}
      />
      <div className="actions">
        <button type="button" onClick={downloadChain} disabled={action.busy}>Download chain (PEM)</button>
        <button type="button" onClick={() => saveBlob(new Blob([ca.certificatePem ?? ''], { type: 'application/x-pem-file' }), `${fileBase}.pem`)}>Download certificate (PEM)</button>
        <button type="button" onClick={() => action.run(() => download(`/cas/${id}/crl`, { query: { format: 'pem' }, fallbackName: `${fileBase}.crl.pem` }))} disabled={action.busy}>
          Download CRL
        </button>
        <Link to={`/certificates?caId=${ca.id}`} className="button secondary">Its certificates</Link>
      </div>
      <ErrorNotice error={action.error} />
      {session.isAdmin && ca.type === 'intermediate' && ca.status === 'active' && (
        <form onSubmit={revoke} className="inline-form">
          <Field label="Revocation reason">
            {(fid) => (
              <select id={fid} value={reason} onChange={(e) => setReason(e.target.value)}>
                {REVOCATION_REASONS.map((r) => <option key={r}>{r}</option>)}
              </select>
            )}
          </Field>
          <button type="submit" className="danger" disabled={action.busy}>Revoke this CA</button>
        </form>
      )}
    </section>
  );
}

function CreateCaForm({ cas, onCreated }: { cas: Ca[]; onCreated: (ca: Ca) => void }) {
  const action = useAction();
  const [form, setForm] = useState({
    name: '', commonName: '', organization: '', country: '', keyAlgorithm: 'ECDSA-P256', validityDays: '3650', parentCaId: '', pathLength: '', permittedDnsDomains: '', usePassphrase: false, passphrase: '',
  });
  const set = (field: keyof typeof form) => (value: string | boolean) => setForm((f) => ({ ...f, [field]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      const body: Record<string, unknown> = {
        name: form.name,
        subject: { commonName: form.commonName, ...(form.organization && { organization: form.organization }), ...(form.country && { country: form.country }) },
        keyAlgorithm: form.keyAlgorithm,
        validityDays: Number(form.validityDays),
      };
      if (form.parentCaId) body.parentCaId = form.parentCaId;
      if (form.pathLength !== '') body.pathLength = Number(form.pathLength);
      const domains = splitList(form.permittedDnsDomains);
      if (domains.length) body.permittedDnsDomains = domains;
      if (form.usePassphrase) body.passphrase = form.passphrase;
      const { ca } = await api<{ ca: Ca }>('/cas', { method: 'POST', body });
      onCreated(ca);
    });
  };
  return (
    <form onSubmit={submit} className="panel form-grid" aria-labelledby="new-ca-title">
      <h2 id="new-ca-title">New certificate authority</h2>
      <Field label="Name">{(id) => <input id={id} required value={form.name} onChange={(e) => set('name')(e.target.value)} />}</Field>
      <Field label="Common name">{(id) => <input id={id} required value={form.commonName} onChange={(e) => set('commonName')(e.target.value)} />}</Field>
      <Field label="Organization">{(id) => <input id={id} value={form.organization} onChange={(e) => set('organization')(e.target.value)} />}</Field>
      <Field label="Country" hint="two letters">{(id, hint) => <input id={id} aria-describedby={hint} maxLength={2} value={form.country} onChange={(e) => set('country')(e.target.value.toUpperCase())} />}</Field>
      <Field label="Key algorithm">
        {(id) => (
          <select id={id} value={form.keyAlgorithm} onChange={(e) => set('keyAlgorithm')(e.target.value)}>
            {KEY_ALGORITHMS.map((k) => <option key={k}>{k}</option>)}
          </select>
        )}
      </Field>
      <Field label="Validity (days)">{(id) => <input id={id} type="number" min={1} required value={form.validityDays} onChange={(e) => set('validityDays')(e.target.value)} />}</Field>
      <Field label="Parent CA" hint="none: a self-signed root">
        {(id, hint) => (
          <select id={id} aria-describedby={hint} value={form.parentCaId} onChange={(e) => set('parentCaId')(e.target.value)}>
            <option value="">None (root)</option>
            {cas.filter((ca) => ca.status === 'active').map((ca) => <option key={ca.id} value={ca.id}>{ca.name}</option>)}
          </select>
        )}
      </Field>
      <Field label="Path length" hint="empty: unlimited">{(id, hint) => <input id={id} aria-describedby={hint} type="number" min={0} value={form.pathLength} onChange={(e) => set('pathLength')(e.target.value)} />}</Field>
      <Field label="Permitted DNS domains" hint="comma or space separated; empty: any">
        {(id, hint) => <input id={id} aria-describedby={hint} value={form.permittedDnsDomains} onChange={(e) => set('permittedDnsDomains')(e.target.value)} />}
      </Field>
      <Checkbox label="Protect the key with a passphrase" checked={form.usePassphrase} onChange={set('usePassphrase')} />
      {form.usePassphrase && (
        <Field label="Passphrase" hint="at least 12 characters; every signature then needs it">
          {(id, hint) => <input id={id} aria-describedby={hint} type="password" autoComplete="new-password" minLength={12} required value={form.passphrase} onChange={(e) => set('passphrase')(e.target.value)} />}
        </Field>
      )}
      <ErrorNotice error={action.error} />
      <div className="actions"><button type="submit" disabled={action.busy}>{action.busy ? 'Creating…' : 'Create CA'}</button></div>
    </form>
  );
}

export function CasPage({ selectedId }: { selectedId: string | null }) {
  const session = useSession();
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas', { query: { includeRevoked: true } }), []);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader title="Certificate authorities">
        {session.isAdmin && <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>New CA</button>}
      </PageHeader>
      <ErrorNotice error={cas.error} />
      {creating && cas.data && (
        <CreateCaForm
          cas={cas.data.cas}
          onCreated={(ca) => {
            setCreating(false);
            cas.reload();
            navigate(`/cas/${ca.id}`);
          }}
        />
      )}
      <div className="split">
        <section aria-labelledby="tree-title" className="panel">
          <h2 id="tree-title">Hierarchy</h2>
          {cas.data ? (cas.data.cas.length ? <Tree nodes={caTree(cas.data.cas)} selectedId={selectedId} /> : <p className="muted">No CA yet.</p>) : !cas.error && <Loading what="CAs" />}
        </section>
        {selectedId ? <CaDetail id={selectedId} onChanged={cas.reload} /> : <p className="muted panel">Choose a CA to see its details.</p>}
      </div>
    </>
  );
}
