/**
 * The certificate inventory: every filter, the search, the sort and the paging are the API's (the server
 * pages; nothing is filtered in the browser). The filters live in the address, so a filtered view can be
 * bookmarked or shared (the key never is: it is not in the address).
 */
import { FormEvent, useEffect, useState } from 'react';
import { Ca, Certificate, Page, Profile, USAGES, api } from '../api';
import { BASE, Link } from '../router';
import { Badge, ErrorNotice, Field, Loading, PageHeader, Pager, formatDate, scrollable, useLoad } from '../ui';

const FILTERS = ['status', 'caId', 'profileId', 'source', 'usage', 'search', 'expiringInDays', 'createdFrom', 'createdTo', 'sortBy', 'sortOrder', 'page', 'pageSize'] as const;
type Filters = Record<(typeof FILTERS)[number], string>;

const DEFAULTS: Filters = { status: 'all', caId: '', profileId: '', source: '', usage: '', search: '', expiringInDays: '', createdFrom: '', createdTo: '', sortBy: 'createdAt', sortOrder: 'desc', page: '1', pageSize: '20' };

function filtersFromAddress(): Filters {
  const params = new URLSearchParams(window.location.search);
  const filters = { ...DEFAULTS };
  for (const name of FILTERS) {
    const value = params.get(name);
    if (value !== null) filters[name] = value;
  }
  return filters;
}

function addressOf(filters: Filters): string {
  const params = new URLSearchParams();
  for (const name of FILTERS) if (filters[name] !== DEFAULTS[name]) params.set(name, filters[name]);
  const text = params.toString();
  return `${BASE}/certificates${text ? `?${text}` : ''}`;
}

export function CertificatesPage() {
  const [filters, setFilters] = useState<Filters>(filtersFromAddress);
  const [searchText, setSearchText] = useState(filters.search);
  useEffect(() => window.history.replaceState(null, '', addressOf(filters)), [filters]);
  const certificates = useLoad(() => {
    // Date inputs give days; the API takes instants: the whole of each day, in UTC.
    const query = { ...filters, createdFrom: filters.createdFrom && `${filters.createdFrom}T00:00:00Z`, createdTo: filters.createdTo && `${filters.createdTo}T23:59:59.999Z` };
    return api<Page & { certificates: Certificate[] }>('/certificates', { query });
  }, [JSON.stringify(filters)]);
  const cas = useLoad(() => api<{ cas: Ca[] }>('/cas', { query: { includeRevoked: true } }), []);
  const profiles = useLoad(() => api<Page & { profiles: Profile[] }>('/profiles', { query: { pageSize: 1000 } }), []);
  const caName = (id: string | null) => (id ? cas.data?.cas.find((ca) => ca.id === id)?.name ?? id.slice(0, 8) : '—');
  // A new filter starts again at page 1.
  const set = (name: keyof Filters) => (value: string) => setFilters((f) => ({ ...f, [name]: value, page: name === 'page' ? value : '1' }));
  const search = (event: FormEvent) => {
    event.preventDefault();
    set('search')(searchText.trim());
  };
  const sortBy = (column: 'commonName' | 'validTo' | 'createdAt') =>
    setFilters((f) => ({ ...f, sortBy: column, sortOrder: f.sortBy === column && f.sortOrder === 'asc' ? 'desc' : 'asc', page: '1' }));
  const sortState = (column: string): 'ascending' | 'descending' | 'none' =>
    filters.sortBy === column ? (filters.sortOrder === 'asc' ? 'ascending' : 'descending') : 'none';
  const SortHeader = ({ column, label }: { column: 'commonName' | 'validTo' | 'createdAt'; label: string }) => (
    <th scope="col" aria-sort={sortState(column)}>
      <button type="button" className="link-button" onClick={() => sortBy(column)}>
        {label} {filters.sortBy === column ? (filters.sortOrder === 'asc' ? '▲' : '▼') : ''}
      </button>
    </th>
  );
  const data = certificates.data;
  return (
    <>
      <PageHeader title="Certificates">
        <Link to="/issue" className="button">Issue</Link>
      </PageHeader>
      <form className="filters" role="search" onSubmit={search} aria-label="Filter certificates">
        <Field label="Search" hint="name, DNS SAN, serial, fingerprint or issuer">
          {(id, hint) => (
            <span className="search-box">
              <input id={id} aria-describedby={hint} type="search" value={searchText} onChange={(e) => setSearchText(e.target.value)} maxLength={200} />
              <button type="submit">Search</button>
            </span>
          )}
        </Field>
        <Field label="Status">
          {(id) => (
            <select id={id} value={filters.status} onChange={(e) => set('status')(e.target.value)}>
              {['all', 'active', 'expiring', 'expired', 'revoked'].map((s) => <option key={s}>{s}</option>)}
            </select>
          )}
        </Field>
        <Field label="Expiring within (days)">
          {(id) => <input id={id} type="number" min={1} max={3650} value={filters.expiringInDays} onChange={(e) => set('expiringInDays')(e.target.value)} />}
        </Field>
        <Field label="CA">
          {(id) => (
            <select id={id} value={filters.caId} onChange={(e) => set('caId')(e.target.value)}>
              <option value="">Any</option>
              {cas.data?.cas.map((ca) => <option key={ca.id} value={ca.id}>{ca.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Profile">
          {(id) => (
            <select id={id} value={filters.profileId} onChange={(e) => set('profileId')(e.target.value)}>
              <option value="">Any</option>
              {profiles.data?.profiles.map((p) => <option key={p.id} value={p.id}>{p.name}</option>)}
            </select>
          )}
        </Field>
        <Field label="Usage">
          {(id) => (
            <select id={id} value={filters.usage} onChange={(e) => set('usage')(e.target.value)}>
              <option value="">Any</option>
              {USAGES.map((u) => <option key={u}>{u}</option>)}
            </select>
          )}
        </Field>
        <Field label="Source">
          {(id) => (
            <select id={id} value={filters.source} onChange={(e) => set('source')(e.target.value)}>
              <option value="">Any</option>
              {['issued', 'acme', 'imported', 'external-acme', 'discovered'].map((s) => <option key={s}>{s}</option>)}
            </select>
          )}
        </Field>
        <Field label="Created from">
          {(id) => <input id={id} type="date" value={filters.createdFrom} onChange={(e) => set('createdFrom')(e.target.value)} />}
        </Field>
        <Field label="Created to">
          {(id) => <input id={id} type="date" value={filters.createdTo} onChange={(e) => set('createdTo')(e.target.value)} />}
        </Field>
        <Field label="Per page">
          {(id) => (
            <select id={id} value={filters.pageSize} onChange={(e) => set('pageSize')(e.target.value)}>
              {['20', '50', '100', '500'].map((s) => <option key={s}>{s}</option>)}
            </select>
          )}
        </Field>
      </form>
      <ErrorNotice error={certificates.error} />
      {data ? (
        <>
          <div className="table-wrap" {...scrollable('Certificates')}>
            <table>
              <caption className="visually-hidden">Certificates, sorted by {filters.sortBy} {filters.sortOrder === 'asc' ? 'ascending' : 'descending'}</caption>
              <thead>
                <tr>
                  <SortHeader column="commonName" label="Common name" />
                  <th scope="col">Status</th>
                  <th scope="col">CA / issuer</th>
                  <th scope="col">Usage</th>
                  <SortHeader column="validTo" label="Expires" />
                  <SortHeader column="createdAt" label="Created" />
                </tr>
              </thead>
              <tbody>
                {data.certificates.map((c) => (
                  <tr key={c.id}>
                    <td><Link to={`/certificates/${c.id}`}>{c.commonName || c.serialNumber}</Link>{c.sanDns.length > 1 && <span className="muted small"> +{c.sanDns.length - 1}</span>}</td>
                    <td><Badge value={c.status} />{c.renewal?.status === 'failed' && <> <Badge value="renewal_failed" /></>}</td>
                    <td>{c.caId ? caName(c.caId) : c.issuer ?? '—'}</td>
                    <td>{c.usage}</td>
                    <td>{formatDate(c.validTo)}{c.status === 'active' && <span className="muted small"> ({c.daysRemaining} d)</span>}</td>
                    <td>{formatDate(c.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {data.certificates.length === 0 && <p className="muted">No certificate matches.</p>}
          <Pager page={data} onPage={(p) => set('page')(String(p))} label="Certificates" />
        </>
      ) : !certificates.error && <Loading what="certificates" />}
    </>
  );
}
