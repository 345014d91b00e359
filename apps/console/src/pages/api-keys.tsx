/** The org's API keys: a per-CA permission grid for member keys; the new key is shown once. */
import { FormEvent, useState } from 'react';
import { ApiKey, Ca, CaPermission, CaPermissions, Page, api } from '../api';
import { useSession } from '../app';
import { Badge, ErrorNotice, Field, Loading, PageHeader, Pager, SecretOnce, formatDate, scrollable, useAction, useLoad } from '../ui';

const PERMISSIONS: CaPermission[] = ['read', 'issue', 'revoke', 'approve'];

export function PermissionGrid({ cas, value, onChange }: { cas: Ca[]; value: CaPermissions; onChange: (next: CaPermissions) => void }) {
  const toggle = (caId: string, permission: CaPermission, on: boolean) => {
    const grants = { ...(value[caId] ?? {}), [permission]: on };
    // Every grant needs to see the CA: issue, revoke or approve turn read on; read off turns them off.
    if (on && permission !== 'read') grants.read = true;
    if (!on && permission === 'read') PERMISSIONS.forEach((p) => (grants[p] = false));
    onChange({ ...value, [caId]: grants });
  };
  return (
    <div className="table-wrap" {...scrollable('Permissions per CA')}>
      <table className="grid">
        <caption>Permissions per CA</caption>
        <thead>
          <tr>
            <th scope="col">CA</th>
            {PERMISSIONS.map((p) => <th scope="col" key={p}>{p}</th>)}
          </tr>
        </thead>
        <tbody>
          {cas.map((ca) => (
            <tr key={ca.id}>
              <th scope="row">{ca.name}</th>
              {PERMISSIONS.map((p) => (
                <td key={p}>
                  <input type="checkbox" aria-label={`${p} on ${ca.name}`} checked={!!value[ca.id]?.[p]} onChange={(e) => toggle(ca.id, p, e.target.checked)} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function CreateKeyForm({ cas, onCreated }: { cas: Ca[]; onCreated: (key: string, apiKey: ApiKey) => void }) {
  const action = useAction();
  const [name, setName] = useState('');
  const [role, setRole] = useState<'admin' | 'member'>('member');
  const [expiresAt, setExpiresAt] = useState('');
  const [permissions, setPermissions] = useState<CaPermissions>({});
  const submit = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      // Only the CAs with some grant: an all-false entry says nothing.
      const granted = Object.fromEntries(Object.entries(permissions).filter(([, g]) => PERMISSIONS.some((p) => g[p])));
      const answer = await api<{ apiKey: ApiKey; key: string }>('/api-keys', {
        method: 'POST',
        body: { name, role, ...(role === 'member' && { permissions: granted }), ...(expiresAt && { expiresAt: new Date(`${expiresAt}T23:59:59Z`).toISOString() }) },
      });
      onCreated(answer.key, answer.apiKey);
    });
  };
  return (
    <form onSubmit={submit} className="panel" aria-labelledby="new-key-title">
      <h2 id="new-key-title">New API key</h2>
      <div className="form-grid">
        <Field label="Name">{(id) => <input id={id} required maxLength={200} value={name} onChange={(e) => setName(e.target.value)} />}</Field>
        <Field label="Role" hint="admin: everything in the org; member: only what the grid grants">
          {(id, hint) => (
            <select id={id} aria-describedby={hint} value={role} onChange={(e) => setRole(e.target.value as 'admin' | 'member')}>
              <option value="member">member</option>
              <option value="admin">admin</option>
            </select>
          )}
        </Field>
        <Field label="Expires" hint="empty: never">{(id, hint) => <input id={id} aria-describedby={hint} type="date" value={expiresAt} onChange={(e) => setExpiresAt(e.target.value)} />}</Field>
      </div>
      {role === 'member' && (cas.length ? <PermissionGrid cas={cas} value={permissions} onChange={setPermissions} /> : <p className="muted">No CA yet: a member key could do nothing.</p>)}
      <ErrorNotice error={action.error} />
      <div className="actions"><button type="submit" disabled={action.busy}>{action.busy ? 'Creating…' : 'Create key'}</button></div>
    </form>
  );
}

export function ApiKeysPage() {
  const session = useSession();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ key: string; apiKey: ApiKey } | null>(null);
  const keys = useLoad(() => api<Page & { apiKeys: ApiKey[] }>('/api-keys', { query: { page, pageSize: 20 } }), [page]);
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas'), []);
  const action = useAction();
  const caName = (id: string) => cas.data?.cas.find((ca) => ca.id === id)?.name ?? id.slice(0, 8);
  const revoke = (k: ApiKey) => {
    const own = k.id === session.whoami.apiKey.id;
    if (!window.confirm(own ? 'Revoke the key you are signed in with? The console signs out.' : `Revoke the key ${k.name}? It stops working at once.`)) return;
    action.run(async () => {
      await api(`/api-keys/${k.id}`, { method: 'DELETE' });
      keys.reload();
    });
  };
  return (
    <>
      <PageHeader title="API keys">
        <button type="button" onClick={() => { setCreating((c) => !c); setCreated(null); }} aria-expanded={creating}>New key</button>
      </PageHeader>
      {created && <SecretOnce title={`API key ${created.apiKey.name}`} value={created.key} onDone={() => setCreated(null)} />}
      {creating && cas.data && (
        <CreateKeyForm cas={cas.data.cas} onCreated={(key, apiKey) => { setCreating(false); setCreated({ key, apiKey }); keys.reload(); }} />
      )}
      <ErrorNotice error={keys.error ?? action.error} />
      {keys.data ? (
        <>
          <div className="table-wrap" {...scrollable('API keys')}>
            <table>
              <caption className="visually-hidden">API keys</caption>
              <thead>
                <tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Role</th><th scope="col">Permissions</th><th scope="col">Expires</th><th scope="col">Created</th><th scope="col"><span className="visually-hidden">Actions</span></th></tr>
              </thead>
              <tbody>
                {keys.data.apiKeys.map((k) => (
                  <tr key={k.id}>
                    <td>{k.name}{k.id === session.whoami.apiKey.id && <span className="muted small"> (this session)</span>}</td>
                    <td><code>{k.prefix}</code></td>
                    <td>{k.role}</td>
                    <td>
                      {k.role === 'admin' ? 'everything in the org' : Object.entries(k.permissions ?? {}).map(([caId, g]) => (
                        <div key={caId} className="small">{caName(caId)}: {PERMISSIONS.filter((p) => g[p]).join(', ') || 'none'}</div>
                      ))}
                    </td>
                    <td>{formatDate(k.expiresAt)}</td>
                    <td>{formatDate(k.createdAt)}</td>
                    <td>{k.revokedAt ? <Badge value="revoked" /> : <button type="button" className="danger small-button" onClick={() => revoke(k)} aria-label={`Revoke key ${k.name}`}>Revoke</button>}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <Pager page={keys.data} onPage={setPage} label="API keys" />
        </>
      ) : !keys.error && <Loading what="API keys" />}
    </>
  );
}
