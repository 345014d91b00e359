/** Webhooks (API.md section 9): endpoints, their events, a test ping and the delivery log. */
import { FormEvent, useState } from 'react';
import { Delivery, Page, WEBHOOK_EVENTS, Webhook, api } from '../api';
import { Link, navigate } from '../router';
import { Badge, Checkbox, ErrorNotice, Field, Loading, PageHeader, Pager, SecretOnce, formatDateTime, scrollable, useAction, useLoad } from '../ui';

function CreateWebhookForm({ onCreated }: { onCreated: (webhook: Webhook, secret: string) => void }) {
  const action = useAction();
  const [url, setUrl] = useState('');
  const [description, setDescription] = useState('');
  const [events, setEvents] = useState<string[]>(['certificate.issued', 'certificate.revoked', 'certificate.renewal_failed', 'certificate.expiring']);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    action.run(async () => {
      const answer = await api<{ webhook: Webhook; secret: string }>('/webhooks', { method: 'POST', body: { url, events, ...(description.trim() && { description: description.trim() }) } });
      onCreated(answer.webhook, answer.secret);
    });
  };
  return (
    <form onSubmit={submit} className="panel" aria-labelledby="new-webhook-title">
      <h2 id="new-webhook-title">New webhook</h2>
      <div className="form-grid">
        <Field label="URL" hint="https://… receives signed POSTs (Signet-Signature)">{(id, hint) => <input id={id} aria-describedby={hint} type="url" required value={url} onChange={(e) => setUrl(e.target.value)} />}</Field>
        <Field label="Description">{(id) => <input id={id} maxLength={500} value={description} onChange={(e) => setDescription(e.target.value)} />}</Field>
      </div>
      <fieldset className="checkbox-group">
        <legend>Events</legend>
        {WEBHOOK_EVENTS.map((e) => (
          <Checkbox key={e} label={e} checked={events.includes(e)} onChange={(on) => setEvents((list) => (on ? [...list, e] : list.filter((x) => x !== e)))} />
        ))}
      </fieldset>
      <ErrorNotice error={action.error} />
      <div className="actions"><button type="submit" disabled={action.busy || events.length === 0}>Create webhook</button></div>
    </form>
  );
}

function WebhookDetail({ id }: { id: string }) {
  const [page, setPage] = useState(1);
  const webhook = useLoad(() => api<{ webhook: Webhook }>(`/webhooks/${id}`), [id]);
  const deliveries = useLoad(() => api<Page & { deliveries: Delivery[] }>(`/webhooks/${id}/deliveries`, { query: { page, pageSize: 20 } }), [id, page]);
  const action = useAction();
  const [message, setMessage] = useState<string | null>(null);
  const w = webhook.data?.webhook;
  const run = (what: () => Promise<unknown>, done: string) => action.run(async () => { await what(); setMessage(done); webhook.reload(); deliveries.reload(); });
  if (webhook.error) return <ErrorNotice error={webhook.error} />;
  if (!w) return <Loading what="the webhook" />;
  return (
    <section className="panel" aria-labelledby="webhook-title">
      <h2 id="webhook-title">{w.url}</h2>
      <p>{w.enabled ? <Badge value="enabled" /> : <Badge value="disabled" />} {w.description} <span className="muted small">Events: {w.events.join(', ')}</span></p>
      <div className="actions">
        <button type="button" onClick={() => run(() => api(`/webhooks/${id}/test`, { method: 'POST' }), 'A test delivery is on its way.')} disabled={action.busy}>Send a test</button>
        <button type="button" className="secondary" onClick={() => run(() => api(`/webhooks/${id}`, { method: 'PATCH', body: { enabled: !w.enabled } }), w.enabled ? 'Disabled.' : 'Enabled.')} disabled={action.busy}>
          {w.enabled ? 'Disable' : 'Enable'}
        </button>
        <button type="button" className="danger" onClick={() => window.confirm('Delete this webhook?') && action.run(async () => { await api(`/webhooks/${id}`, { method: 'DELETE' }); navigate('/webhooks'); })} disabled={action.busy}>Delete</button>
      </div>
      {message && <p role="status" className="muted">{message}</p>}
      <ErrorNotice error={action.error ?? deliveries.error} />
      <h3>Deliveries</h3>
      {deliveries.data && (
        <>
          <div className="table-wrap" {...scrollable('Deliveries')}>
            <table>
              <caption className="visually-hidden">Deliveries of this webhook</caption>
              <thead><tr><th scope="col">Event</th><th scope="col">Status</th><th scope="col">Attempts</th><th scope="col">Last answer</th><th scope="col">Created</th><th scope="col">Delivered</th></tr></thead>
              <tbody>
                {deliveries.data.deliveries.map((d) => (
                  <tr key={d.id}>
                    <td>{d.event}</td><td><Badge value={d.status} /></td><td>{d.attempts}</td>
                    <td>{d.lastStatusCode ?? ''} {d.lastError && <span className="muted small">{d.lastError}</span>}</td>
                    <td>{formatDateTime(d.createdAt)}</td><td>{formatDateTime(d.deliveredAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {deliveries.data.deliveries.length === 0 && <p className="muted">No delivery yet.</p>}
          <Pager page={deliveries.data} onPage={setPage} label="Deliveries" />
        </>
      )}
    </section>
  );
}

export function WebhooksPage({ selectedId }: { selectedId: string | null }) {
  const [page, setPage] = useState(1);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<{ webhook: Webhook; secret: string } | null>(null);
  const webhooks = useLoad(() => api<Page & { webhooks: Webhook[] }>('/webhooks', { query: { page, pageSize: 20 } }), [page]);
  return (
    <>
      <PageHeader title="Webhooks">
        <button type="button" onClick={() => setCreating((c) => !c)} aria-expanded={creating}>New webhook</button>
      </PageHeader>
      {created && <SecretOnce title={`Signing secret of ${created.webhook.url}`} value={created.secret} onDone={() => setCreated(null)} />}
      {creating && <CreateWebhookForm onCreated={(webhook, secret) => { setCreating(false); setCreated({ webhook, secret }); webhooks.reload(); }} />}
      <ErrorNotice error={webhooks.error} />
      {webhooks.data ? (
        <>
          <ul className="plain-list panel">
            {webhooks.data.webhooks.map((w) => (
              <li key={w.id}>
                <Link to={`/webhooks/${w.id}`} current={w.id === selectedId}>{w.url}</Link> {!w.enabled && <Badge value="disabled" />}{' '}
                <span className="muted small">{w.events.length} events</span>
              </li>
            ))}
            {webhooks.data.webhooks.length === 0 && <li className="muted">No webhook yet.</li>}
          </ul>
          <Pager page={webhooks.data} onPage={setPage} label="Webhooks" />
        </>
      ) : !webhooks.error && <Loading what="webhooks" />}
      {selectedId && <WebhookDetail id={selectedId} />}
    </>
  );
}
