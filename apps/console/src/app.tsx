/** Sign-in, the frame around every page (navigation, who is signed in) and the routes. */
import { FormEvent, createContext, useContext, useEffect, useMemo, useState } from 'react';
import { ApiFailure, CaPermission, SIGNED_OUT_EVENT, Whoami, api, signOut, storeKey, storedKey } from './api';
import { Link, navigate, usePath } from './router';
import { ErrorNotice, Field, Loading } from './ui';
import { DashboardPage } from './pages/dashboard';
import { CasPage } from './pages/cas';
import { CertificatesPage } from './pages/certificates';
import { CertificateDetailPage } from './pages/certificate-detail';
import { IssuePage } from './pages/issue';
import { ApprovalsPage } from './pages/approvals';
import { ProfilesPage } from './pages/profiles';
import { ApiKeysPage } from './pages/api-keys';
import { WebhooksPage } from './pages/webhooks';
import { AgentsPage, DiscoveredPage } from './pages/agents';
import { AuditPage } from './pages/audit';

export interface Session {
  whoami: Whoami;
  isAdmin: boolean;
  /** Whether the signed-in key may do `permission` on `caId` (admins may do everything in their org). */
  can: (caId: string | null | undefined, permission: CaPermission) => boolean;
}

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}

function sessionOf(whoami: Whoami): Session {
  const isAdmin = whoami.apiKey.role === 'admin';
  return {
    whoami,
    isAdmin,
    can: (caId, permission) => isAdmin || (!!caId && !!whoami.permissions?.[caId]?.[permission]),
  };
}

function SignIn({ notice, onSignedIn }: { notice: string | null; onSignedIn: (whoami: Whoami) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const whoami = await api<Whoami>('/whoami', { key: key.trim() });
      if (!whoami.org) throw new Error('This is a platform key: the console works inside an organization. Sign in with an org key.');
      storeKey(key.trim());
      setKey('');
      onSignedIn(whoami);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="sign-in" id="main">
      <form onSubmit={submit} aria-labelledby="sign-in-title">
        <h1 id="sign-in-title">Signet console</h1>
        <p className="muted">Sign in with an API key of your organization. It is kept for this browser tab only.</p>
        {notice && <div className="notice" role="status">{notice}</div>}
        <Field label="API key" hint="sgn_… as shown when the key was created">
          {(id, hintId) => (
            <input id={id} aria-describedby={hintId} type="password" autoComplete="off" spellCheck={false} required value={key} onChange={(e) => setKey(e.target.value)} />
          )}
        </Field>
        <ErrorNotice error={error} />
        <button type="submit" disabled={busy || !key.trim()}>{busy ? 'Signing in…' : 'Sign in'}</button>
      </form>
    </main>
  );
}

const NAV: { to: string; label: string; adminOnly?: boolean }[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/cas', label: 'Certificate authorities' },
  { to: '/certificates', label: 'Certificates' },
  { to: '/issue', label: 'Issue' },
  { to: '/approvals', label: 'Approvals' },
  { to: '/profiles', label: 'Profiles' },
  { to: '/api-keys', label: 'API keys', adminOnly: true },
  { to: '/webhooks', label: 'Webhooks', adminOnly: true },
  { to: '/agents', label: 'Agents', adminOnly: true },
  { to: '/discovered', label: 'Discovered', adminOnly: true },
  { to: '/audit', label: 'Audit log', adminOnly: true },
];

const sectionOf = (path: string) => '/' + (path.split('/')[1] ?? '');

function Page({ path }: { path: string }) {
  const parts = path.split('/').filter(Boolean);
  switch (parts[0] ?? '') {
    case '': return <DashboardPage />;
    case 'cas': return <CasPage selectedId={parts[1] ?? null} />;
    case 'certificates': return parts[1] ? <CertificateDetailPage id={parts[1]} /> : <CertificatesPage />;
    case 'issue': return <IssuePage />;
    case 'approvals': return <ApprovalsPage />;
    case 'profiles': return <ProfilesPage />;
    case 'api-keys': return <ApiKeysPage />;
    case 'webhooks': return <WebhooksPage selectedId={parts[1] ?? null} />;
    case 'agents': return <AgentsPage />;
    case 'discovered': return <DiscoveredPage />;
    case 'audit': return <AuditPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>There is no console page at this address. <Link to="/">Go to the dashboard</Link>.</p>
        </section>
      );
  }
}

function Frame({ session }: { session: Session }) {
  const path = usePath();
  const [menuOpen, setMenuOpen] = useState(false);
  useEffect(() => setMenuOpen(false), [path]);
  const section = sectionOf(path);
  const items = NAV.filter((item) => !item.adminOnly || session.isAdmin);
  const title = items.find((item) => item.to === section)?.label ?? 'Signet';
  useEffect(() => {
    document.title = `${title} · Signet console`;
  }, [title]);
  return (
    <div className="frame">
      <a className="skip-link" href="#main">Skip to content</a>
      <header className="top">
        <span className="brand">Signet</span>
        <span className="who" data-testid="signed-in-as">
          {session.whoami.org?.name} · {session.whoami.apiKey.name} ({session.whoami.apiKey.role})
        </span>
        <button type="button" className="menu-button" aria-expanded={menuOpen} aria-controls="main-nav" onClick={() => setMenuOpen((open) => !open)}>
          Menu
        </button>
        <button type="button" className="secondary" onClick={() => signOut()}>Sign out</button>
      </header>
      <nav id="main-nav" className={menuOpen ? 'side open' : 'side'} aria-label="Console">
        <ul>
          {items.map((item) => (
            <li key={item.to}>
              <Link to={item.to} current={section === item.to}>{item.label}</Link>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </div>
  );
}

export function App() {
  const [whoami, setWhoami] = useState<Whoami | null>(null);
  const [checking, setChecking] = useState(() => storedKey() !== null);
  const [notice, setNotice] = useState<string | null>(null);
  const session = useMemo(() => (whoami ? sessionOf(whoami) : null), [whoami]);

  useEffect(() => {
    const onSignedOut = (event: Event) => {
      const reason = (event as CustomEvent<string | null>).detail;
      setWhoami(null);
      setNotice(reason ? `Signed out: ${reason}.` : 'Signed out.');
    };
    window.addEventListener(SIGNED_OUT_EVENT, onSignedOut);
    return () => window.removeEventListener(SIGNED_OUT_EVENT, onSignedOut);
  }, []);

  // A reload keeps the tab signed in: the stored key is checked again.
  useEffect(() => {
    if (!storedKey()) return;
    api<Whoami>('/whoami').then(
      (answer) => setWhoami(answer),
      (err) => {
        if (!(err instanceof ApiFailure && err.status === 401)) setNotice(`The server did not confirm the key: ${(err as Error).message}`);
      },
    ).finally(() => setChecking(false));
  }, []);

  if (checking) return <Loading what="the console" />;
  if (!session) {
    return (
      <SignIn
        notice={notice}
        onSignedIn={(answer) => {
          setNotice(null);
          setWhoami(answer);
          navigate(window.location.pathname.startsWith('/console') ? window.location.pathname.slice('/console'.length) || '/' : '/');
        }}
      />
    );
  }
  return (
    <SessionContext.Provider value={session}>
      <Frame session={session} />
    </SessionContext.Provider>
  );
}
