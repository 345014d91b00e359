/**
 * Agents and the certificates they discovered (API.md section 10). A server without these endpoints
 * (an older gateway) answers 404: the pages say so instead of showing an error.
 */
import { FormEvent, useState } from 'react';
import { Agent, DiscoveredCertificate, Page, api } from '../api';
import { Link } from '../router';
import { Badge, ErrorNotice, Field, Loading, PageHeader, Pager, SecretOnce, formatDate, formatDateTime, isNotFound, scrollable, useAction, useLoad } from '../ui';

function NotAvailable({ what }: { what: string }) {
  return (
    <p className="notice" role="status">
      {what} are not available on this server: its API has no such endpoints (the gateway predates agents).
    </p>
  );
}

export function AgentsPage() {
  const [page, setPage] = useState(1);
  const [name, setName] = useState('');
  const [created, setCreated] = useState<{ agent: Agent; key: string } | null>(null);
  const agents = useLoad(() => api<Page & { agents: Agent[] }>('/agents', { query: { page, pageSize: 20 } }), [page]);
  const action = useAction();
  if (isNotFound(agents.error)) return <><PageHeader title="Agents" /><NotAvailable what="Agents" /></>;
  const create = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      setCreated(await api<{ agent: Agent; key: string }>('/agents', { method: 'POST', body: { name: name.trim() } }));
      setName('');
      agents.reload();
    });
  };
  const remove = (a: Agent) => window.confirm(`Delete the agent ${a.name}? Its key stops working.`) && action.run(async () => { await api(`/agents/${a.id}`, { method: 'DELETE' }); agents.reload(); });
  return (
    <>
      <PageHeader title="Agents" />
      {created && <SecretOnce title={`Key of agent ${created.agent.name}`} value={created.key} onDone={() => setCreated(null)} />}
      <form onSubmit={create} className="inline-form panel" aria-label="New agent">
        <Field label="New agent name">{(id) => <input id={id} required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <button type="submit" disabled={action.busy || !name.trim()}>Create agent</button>
      </form>
      <ErrorNotice error={agents.error ?? action.error} />
      {agents.data ? (
        <>
          <div className="table-wrap" {...scrollable('Agents')}>
            <table>
              <caption className="visually-hidden">Agents</caption>
              <thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Last seen</th><th scope="col">Created</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr></thead>
              <tbody>
                {agents.data.agents.map((a) => (
                  <tr key={a.id}>
                    <td>{a.name}</td><td>{a.status ? <Badge value={a.status} /> : '—'}</td><td>{formatDateTime(a.lastSeenAt)}</td><td>{formatDate(a.createdAt)}</td>
                    <td><button type="button" className="danger small-button" onClick={() => remove(a)} aria-label={`Delete agent ${a.name}`}>Delete</button></td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {agents.data.agents.length === 0 && <p className="muted">No agent yet. Run <code>signet-agent --config &lt;file&gt;</code> on a host with the key of a new agent.</p>}
          <Pager page={agents.data} onPage={setPage} label="Agents" />
        </>
      ) : !agents.error && <Loading what="agents" />}
    </>
  );
}

export function DiscoveredPage() {
  const [page, setPage] = useState(1);
  const [imported, setImported] = useState('');
  const [source, setSource] = useState('');
  const [message, setMessage] = useState<string | null>(null);
  const discovered = useLoad(
    () => api<Page & { discoveredCertificates: DiscoveredCertificate[] }>('/discovered-certificates', { query: { page, pageSize: 20, imported, source } }),
    [page, imported, source],
  );
  const action = useAction();
  if (isNotFound(discovered.error)) return <><PageHeader title="Discovered certificates" /><NotAvailable what="Discovered certificates" /></>;
  const importOne = (d: DiscoveredCertificate) =>
    action.run(async () => {
      await api(`/discovered-certificates/${d.id}/import`, { method: 'POST', body: {} });
      setMessage(`Imported ${d.commonName ?? d.location}.`);
      discovered.reload();
    });
  return (
    <>
      <PageHeader title="Discovered certificates" />
      <div className="filters">
        <Field label="Imported">
          {(id) => (
            <select id={id} value={imported} onChange={(e) => { setImported(e.target.value); setPage(1); }}>
              <option value="">Any</option><option value="false">Not yet</option><option value="true">Imported</option>
            </select>
          )}
        </Field>
        <Field label="Found on">
          {(id) => (
            <select id={id} value={source} onChange={(e) => { setSource(e.target.value); setPage(1); }}>
              <option value="">Any</option><option value="filesystem">filesystem</option><option value="network">network</option>
            </select>
          )}
        </Field>
      </div>
      {message && <p role="status" className="notice success">{message}</p>}
      <ErrorNotice error={discovered.error ?? action.error} />
      {discovered.data ? (
        <>
          <div className="table-wrap" {...scrollable('Discovered certificates')}>
            <table>
              <caption className="visually-hidden">Discovered certificates</caption>
              <thead><tr><th scope="col">Common name</th><th scope="col">Where</th><th scope="col">Issuer</th><th scope="col">Expires</th><th scope="col">Last seen</th><th scope="col">Inventory</th></tr></thead>
              <tbody>
                {discovered.data.discoveredCertificates.map((d) => (
                  <tr key={d.id}>
                    <td>{d.commonName ?? '—'}</td>
                    <td><span className="small">{d.source}: <code className="wrap">{d.location}</code></span>{d.hasPrivateKey && <span className="muted small"> (key found)</span>}</td>
                    <td className="small">{d.issuer ?? '—'}</td>
                    <td>{formatDate(d.validTo)}</td>
                    <td>{formatDateTime(d.lastSeenAt)}</td>
                    <td>{d.certificateId ? <Link to={`/certificates/${d.certificateId}`}>imported</Link> : <button type="button" className="small-button" onClick={() => importOne(d)} disabled={action.busy}>Import</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {discovered.data.discoveredCertificates.length === 0 && <p className="muted">Nothing discovered (yet).</p>}
          <Pager page={discovered.data} onPage={setPage} label="Discovered certificates" />
        </>
      ) : !discovered.error && <Loading what="discovered certificates" />}
    </>
  );
}
