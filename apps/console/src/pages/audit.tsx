/** The audit log with the API's filters; it pages by cursor (newest first), so "Older" follows nextCursor. */
import { FormEvent, useState } from 'react';
import { AuditEvent, api } from '../api';
import { Badge, ErrorNotice, Field, Loading, PageHeader, formatDateTime, scrollable, useLoad } from '../ui';

interface AuditFilters {
  eventType: string;
  outcome: string;
  days: string;
  resourceId: string;
}

export function AuditPage() {
  const [draft, setDraft] = useState<AuditFilters>({ eventType: '', outcome: '', days: '7', resourceId: '' });
  const [filters, setFilters] = useState(draft);
  // The cursors of the pages seen so far: the first page has none.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1];
  const events = useLoad(
    () => api<{ events: AuditEvent[]; nextCursor: string | null }>('/audit', { query: { ...filters, limit: 50, cursor } }),
    [JSON.stringify(filters), cursor],
  );
  const apply = (event: FormEvent) => {
    event.preventDefault();
    setFilters({ ...draft, eventType: draft.eventType.trim(), resourceId: draft.resourceId.trim() });
    setCursors([null]);
  };
  const set = (name: keyof AuditFilters) => (value: string) => setDraft((d) => ({ ...d, [name]: value }));
  return (
    <>
      <PageHeader title="Audit log" />
      <form className="filters" onSubmit={apply} aria-label="Filter the audit log">
        <Field label="Event type" hint="exact, or a prefix ending in a dot: certificate.">
          {(id, hint) => <input id={id} aria-describedby={hint} value={draft.eventType} onChange={(e) => set('eventType')(e.target.value)} />}
        </Field>
        <Field label="Outcome">
          {(id) => (
            <select id={id} value={draft.outcome} onChange={(e) => set('outcome')(e.target.value)}>
              <option value="">Any</option><option>success</option><option>failed</option><option>pending</option>
            </select>
          )}
        </Field>
        <Field label="Last days">{(id) => <input id={id} type="number" min={1} max={3650} value={draft.days} onChange={(e) => set('days')(e.target.value)} />}</Field>
        <Field label="Resource id">{(id) => <input id={id} value={draft.resourceId} onChange={(e) => set('resourceId')(e.target.value)} />}</Field>
        <div className="field"><button type="submit">Apply</button></div>
      </form>
      <ErrorNotice error={events.error} />
      {events.data ? (
        <>
          <div className="table-wrap" {...scrollable('Audit events')}>
            <table>
              <caption className="visually-hidden">Audit events, newest first</caption>
              <thead><tr><th scope="col">When</th><th scope="col">Event</th><th scope="col">Outcome</th><th scope="col">Actor</th><th scope="col">Resource</th><th scope="col">Details</th></tr></thead>
              <tbody>
                {events.data.events.map((e) => (
                  <tr key={e.id}>
                    <td className="nowrap">{formatDateTime(e.at)}</td>
                    <td><code>{e.eventType}</code></td>
                    <td><Badge value={e.outcome} /></td>
                    <td>{e.actor.name ?? e.actor.type}{e.ip && <span className="muted small"> {e.ip}</span>}</td>
                    <td className="small">{e.resourceType} <code className="wrap">{e.resourceId}</code></td>
                    <td className="small">
                      {e.error && <span>{e.error.code}: {e.error.message} </span>}
                      {e.details && <code className="wrap">{JSON.stringify(e.details)}</code>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {events.data.events.length === 0 && <p className="muted">No event matches.</p>}
          <nav className="pager" aria-label="Audit log pages">
            <button type="button" disabled={cursors.length <= 1} onClick={() => setCursors((c) => c.slice(0, -1))}>Newer</button>
            <span>Page {cursors.length}</span>
            <button type="button" disabled={!events.data.nextCursor} onClick={() => setCursors((c) => [...c, events.data?.nextCursor ?? null])}>Older</button>
          </nav>
        </>
      ) : !events.error && <Loading what="events" />}
    </>
  );
}
