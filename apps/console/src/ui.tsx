/** Pieces every page uses: loading API data, errors with their request id, pagers, fields, secrets shown once. */
import { ReactNode, useCallback, useEffect, useId, useRef, useState } from 'react';
import { ApiFailure, Page, saveBlob } from './api';

export interface Loaded<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` now and whenever `deps` change; the last answer wins (an older slow one is dropped). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  const latest = useRef(0);
  useEffect(() => {
    const ticket = ++latest.current;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => ticket === latest.current && setState({ data, error: null, loading: false }),
      (error) => ticket === latest.current && setState({ data: null, error, loading: false }),
    );
    // `load` is a new closure every render; `deps` say when its answer changes.
  }, [...deps, round]);
  const reload = useCallback(() => setRound((r) => r + 1), []);
  return { ...state, reload };
}

/** Runs one user action at a time (a form submit, a button), keeping its error for display. */
export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const run = useCallback(async <T,>(action: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await action();
    } catch (err) {
      setError(err);
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, error, run, clear: () => setError(null) };
}

/** An API error as the API said it: message, code, request id, the fields it named. */
export function ErrorNotice({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiFailure) {
    // validation_failed names each bad field: details.fields [{field, messages}] (libs/service errors.ts).
    const fields = Array.isArray(error.details?.fields)
      ? (error.details.fields as { field?: string; messages?: string[] }[]).map((f) => ({ field: f.field, message: (f.messages ?? []).join('; ') }))
      : [];
    const rule = typeof error.details?.rule === 'string' ? error.details.rule : null;
    return (
      <div className="notice error" role="alert">
        <p>
          <strong>{error.message}</strong>
          {error.status ? <span className="muted"> ({error.status} {error.code}{rule ? `, rule ${rule}` : ''})</span> : null}
        </p>
        {fields.length > 0 && (
          <ul>
            {fields.map((f, i) => (
              <li key={i}>{f.field ? `${f.field}: ` : ''}{f.message}</li>
            ))}
          </ul>
        )}
        {error.requestId && <p className="muted small">Request id: <code>{error.requestId}</code></p>}
      </div>
    );
  }
  return (
    <div className="notice error" role="alert">
      <p><strong>{(error as Error)?.message ?? String(error)}</strong></p>
    </div>
  );
}

export const isNotFound = (error: unknown) => error instanceof ApiFailure && error.status === 404;

export function Loading({ what }: { what: string }) {
  return <p className="muted" role="status">Loading {what}…</p>;
}

export function PageHeader({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <header className="page-header">
      <h1>{title}</h1>
      {children && <div className="actions">{children}</div>}
    </header>
  );
}

export function Pager({ page, onPage, label }: { page: Page; onPage: (page: number) => void; label: string }) {
  const last = Math.max(1, page.totalPages);
  return (
    <nav className="pager" aria-label={`${label} pages`}>
      <button type="button" onClick={() => onPage(page.page - 1)} disabled={page.page <= 1}>Previous</button>
      <span>
        Page {page.page} of {last} · {page.total} {page.total === 1 ? 'item' : 'items'}
      </span>
      <button type="button" onClick={() => onPage(page.page + 1)} disabled={page.page >= last}>Next</button>
    </nav>
  );
}

export function Field({ label, hint, children }: { label: string; hint?: string; children: (id: string, hintId?: string) => ReactNode }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children(id, hintId)}
      {hint && <p id={hintId} className="hint">{hint}</p>}
    </div>
  );
}

export function Checkbox({ label, checked, onChange, disabled }: { label: string; checked: boolean; onChange: (value: boolean) => void; disabled?: boolean }) {
  const id = useId();
  return (
    <div className="checkbox">
      <input id={id} type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

/** A secret the server shows once (an API key, a webhook secret, a managed private key). */
export function SecretOnce({ title, value, fileName, onDone }: { title: string; value: string; fileName?: string; onDone?: () => void }) {
  const [copied, setCopied] = useState<'yes' | 'no' | null>(null);
  const id = useId();
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('yes');
    } catch {
      setCopied('no');
    }
  };
  return (
    <section className="secret" aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      <p><strong>Shown once.</strong> Signet keeps no copy it can show again: copy or download it now.</p>
      <pre className="secret-value" data-testid="secret-value" tabIndex={0} aria-label={title}>{value}</pre>
      <div className="actions">
        <button type="button" onClick={copy}>Copy</button>
        {fileName && (
          <button type="button" onClick={() => saveBlob(new Blob([value], { type: 'application/x-pem-file' }), fileName)}>
            Download {fileName}
          </button>
        )}
        {onDone && <button type="button" className="secondary" onClick={onDone}>Done</button>}
      </div>
      <p role="status" className="muted small">
        {copied === 'yes' ? 'Copied to the clipboard.' : copied === 'no' ? 'The browser refused the clipboard: select the text and copy it.' : ''}
      </p>
    </section>
  );
}

export function Badge({ value }: { value: string }) {
  return <span className={`badge badge-${value.replace(/[^a-z_-]/gi, '')}`}>{value.replace(/_/g, ' ')}</span>;
}

const dateTime = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });
const dateOnly = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeZone: 'UTC' });

export const formatDateTime = (iso: string | null | undefined) => (iso ? `${dateTime.format(new Date(iso))} UTC` : '—');
export const formatDate = (iso: string | null | undefined) => (iso ? dateOnly.format(new Date(iso)) : '—');

/** A description list of label -> value, skipping nothing: an empty value shows as a dash. */
export function Details({ rows }: { rows: [string, ReactNode][] }) {
  return (
    <dl className="details">
      {rows.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value === null || value === undefined || value === '' ? '—' : value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A list typed into one field: comma or space separated. */
export const splitList = (text: string) => text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);

export const list = (values: string[] | null | undefined) => (values && values.length ? values.join(', ') : '—');

/** A table's scrolling box on narrow screens: a named region that keyboard users can focus and scroll. */
export const scrollable = (label: string) => ({ tabIndex: 0, role: 'region', 'aria-label': label });
