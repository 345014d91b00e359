/** Certificate profiles (API.md section 5): the one home of issuance policy. */
import { FormEvent, useState } from 'react';
import { Ca, KEY_ALGORITHMS, Page, Profile, USAGES, api } from '../api';
import { useSession } from '../app';
import { Checkbox, ErrorNotice, Field, Loading, PageHeader, Pager, list, scrollable, useAction, useLoad, splitList } from '../ui';

function CreateProfileForm({ cas, onCreated }: { cas: Ca[]; onCreated: () => void }) {
  const action = useAction();
  const [form, setForm] = useState({
    name: '', slug: '', caId: '', description: '', environment: '', allowedDomains: '', allowWildcards: true, allowIpSans: true,
    defaultValidityDays: '90', maxValidityDays: '397', usage: 'server', requireApproval: false, approvalTtlHours: '72',
  });
  const [keys, setKeys] = useState<string[]>([]);
  const set = (field: keyof typeof form) => (value: string | boolean) => setForm((f) => ({ ...f, [field]: value }));
  const submit = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      await api('/profiles', {
        method: 'POST',
        body: {
          name: form.name, slug: form.slug, caId: form.caId,
          ...(form.description.trim() && { description: form.description.trim() }),
          ...(form.environment.trim() && { environment: form.environment.trim() }),
          allowedDomains: splitList(form.allowedDomains), allowWildcards: form.allowWildcards, allowIpSans: form.allowIpSans,
          ...(keys.length && { allowedKeyAlgorithms: keys }),
          defaultValidityDays: Number(form.defaultValidityDays), maxValidityDays: Number(form.maxValidityDays), usage: form.usage,
          requireApproval: form.requireApproval, ...(form.requireApproval && { approvalTtlHours: Number(form.approvalTtlHours) }),
        },
      });
      onCreated();
    });
  };
  return (
    <form onSubmit={submit} className="panel form-grid" aria-labelledby="new-profile-title">
      <h2 id="new-profile-title">New profile</h2>
      <Field label="Name">{(id) => <input id={id} required value={form.name} onChange={(e) => set('name')(e.target.value)} />}</Field>
      <Field label="Slug" hint="lowercase letters, digits and dashes; unique in the org; in ACME URLs">
        {(id, hint) => <input id={id} aria-describedby={hint} required pattern="[a-z0-9][a-z0-9-]*" value={form.slug} onChange={(e) => set('slug')(e.target.value)} />}
      </Field>
      <Field label="CA">
        {(id) => (
          <select id={id} required value={form.caId} onChange={(e) => set('caId')(e.target.value)}>
            <option value="">Choose a CA</option>
            {cas.filter((ca) => ca.status === 'active').map((ca) => <option key={ca.id} value={ca.id}>{ca.name}</option>)}
          </select>
        )}
      </Field>
      <Field label="Description">{(id) => <input id={id} value={form.description} onChange={(e) => set('description')(e.target.value)} />}</Field>
      <Field label="Environment" hint="e.g. production, staging">{(id, hint) => <input id={id} aria-describedby={hint} value={form.environment} onChange={(e) => set('environment')(e.target.value)} />}</Field>
      <Field label="Allowed domains" hint="example.com allows it and every name under it; *.svc.example.com only names directly under it; empty: any">
        {(id, hint) => <input id={id} aria-describedby={hint} value={form.allowedDomains} onChange={(e) => set('allowedDomains')(e.target.value)} />}
      </Field>
      <Checkbox label="Allow wildcards" checked={form.allowWildcards} onChange={set('allowWildcards')} />
      <Checkbox label="Allow IP addresses" checked={form.allowIpSans} onChange={set('allowIpSans')} />
      <fieldset className="checkbox-group">
        <legend>Allowed key algorithms (none checked: all)</legend>
        {KEY_ALGORITHMS.map((k) => (
          <Checkbox key={k} label={k} checked={keys.includes(k)} onChange={(on) => setKeys((list) => (on ? [...list, k] : list.filter((x) => x !== k)))} />
        ))}
      </fieldset>
      <Field label="Default validity (days)">{(id) => <input id={id} type="number" min={1} max={397} required value={form.defaultValidityDays} onChange={(e) => set('defaultValidityDays')(e.target.value)} />}</Field>
      <Field label="Maximum validity (days)">{(id) => <input id={id} type="number" min={1} max={397} required value={form.maxValidityDays} onChange={(e) => set('maxValidityDays')(e.target.value)} />}</Field>
      <Field label="Usage">
        {(id) => (
          <select id={id} value={form.usage} onChange={(e) => set('usage')(e.target.value)}>
            {USAGES.map((u) => <option key={u}>{u}</option>)}
          </select>
        )}
      </Field>
      <Checkbox label="Require approval by a second key" checked={form.requireApproval} onChange={set('requireApproval')} />
      {form.requireApproval && (
        <Field label="Approval window (hours)">{(id) => <input id={id} type="number" min={1} required value={form.approvalTtlHours} onChange={(e) => set('approvalTtlHours')(e.target.value)} />}</Field>
      )}
      <ErrorNotice error={action.error} />
      <div className="actions"><button type="submit" disabled={action.busy}>{action.busy ? 'Creating…' : 'Create profile'}</button></div>
    </form>
  );
}

export function ProfilesPage() {
  const session = useSession();
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const profiles = useLoad(() => api<Page & { profiles: Profile[] }>('/profiles', { query: { page, pageSize: 20 } }), [page]);
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas'), []);
  const action = useAction();
  const caName = (id: string) => cas.data?.cas.find((ca) => ca.id === id)?.name ?? id.slice(0, 8);
  const remove = (p: Profile) => {
    if (!window.confirm(`Delete the profile ${p.name}? Issuing under it stops; its certificates stay.`)) return;
    action.run(async () => {
      await api(`/profiles/${p.id}`, { method: 'DELETE' });
      profiles.reload();
    });
  };
  return (
    <>
      <PageHeader title="Profiles">
        {session.isAdmin && <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>New profile</button>}
      </PageHeader>
      {creating && cas.data && <CreateProfileForm cas={cas.data.cas} onCreated={() => { setCreating(false); profiles.reload(); }} />}
      <ErrorNotice error={profiles.error ?? action.error} />
      {profiles.data ? (
        <>
          <div className="table-wrap" {...scrollable('Profiles')}>
            <table>
              <caption className="visually-hidden">Profiles</caption>
              <thead>
                <tr>
                  <th scope="col">Name</th><th scope="col">CA</th><th scope="col">Domains</th><th scope="col">Keys</th>
                  <th scope="col">Validity</th><th scope="col">Usage</th><th scope="col">Approval</th>{session.isAdmin && <th scope="col"><span className="visually-hidden">Actions</span></th>}
                </tr>
              </thead>
              <tbody>
                {profiles.data.profiles.map((p) => (
                  <tr key={p.id}>
                    <td><strong>{p.name}</strong><br /><span className="muted small">{p.slug}{p.environment ? ` · ${p.environment}` : ''}</span></td>
                    <td>{caName(p.caId)}</td>
                    <td>{list(p.allowedDomains)}{!p.allowWildcards && <span className="muted small"> (no wildcards)</span>}</td>
                    <td>{p.allowedKeyAlgorithms.length ? p.allowedKeyAlgorithms.join(', ') : 'any'}</td>
                    <td>{p.defaultValidityDays} d (max {p.maxValidityDays})</td>
                    <td>{p.usage}</td>
                    <td>{p.requireApproval ? `required, ${p.approvalTtlHours} h` : 'no'}</td>
                    {session.isAdmin && <td><button type="button" className="danger small-button" onClick={() => remove(p)} aria-label={`Delete profile ${p.name}`}>Delete</button></td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {profiles.data.profiles.length === 0 && <p className="muted">No profile yet.</p>}
          <Pager page={profiles.data} onPage={setPage} label="Profiles" />
        </>
      ) : !profiles.error && <Loading what="profiles" />}
    </>
  );
}
