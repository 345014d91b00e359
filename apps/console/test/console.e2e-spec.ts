/**
 * The web console (API.md section 11) in Debian's chromium against the real built stack: the gateway and
 * a signer as processes (dist/), this run's PostgreSQL database and Redis prefix. A person's day, in
 * order: sign in, create a CA and a profile, issue under it (the managed key shown once and downloaded),
 * find the certificate in the list, download it, revoke it and see `openssl ocsp` against the gateway say
 * revoked; request a certificate under a four-eyes profile, create a second key with the approve
 * permission in the API keys grid, sign in with it and approve; a revoked key sends the tab back to
 * sign-in. Then every page at 1280 and 390 px: a screenshot (tmp/console-screenshots), no serious axe-core
 * violation, no Content-Security-Policy violation.
 */
import { RunningService, apiCall, apiOk, startGatewayProcess, startSigner, stopService } from '@signet/testing';
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Download, Locator, Page } from 'playwright-core';
import { NARROW, WIDE, cspViolations, launchChromium, newConsoleContext, screenshot, seriousAxeViolations } from './browser';

const PLATFORM_ADMIN_KEY = `console-test-platform-key-${randomBytes(12).toString('hex')}`;

describe('web console in a real browser against the built stack', () => {
  let signer: RunningService;
  let gateway: RunningService;
  let url: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let adminKey: string;
  let workDir: string;
  const state: { caId?: string; certificateId?: string; approverKey?: string; approverKeyId?: string } = {};

  const admin = (method: string, path: string, body?: object) => apiOk(url, method, path, { key: adminKey, body });
  const open = async (path: string) => {
    await page.goto(`${url}/console${path}`);
  };
  const signIn = async (key: string) => {
    await open('/');
    await page.getByLabel('API key').fill(key);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByTestId('signed-in-as').waitFor();
  };
  /** Through the Profiles page's form, on the test's CA; `rules` fills in the rest. */
  const createProfile = async (name: string, slug: string, rules: (form: Locator) => Promise<void>) => {
    await page.getByRole('link', { name: 'Profiles' }).click();
    await page.getByRole('button', { name: 'New profile' }).click();
    const form = page.getByRole('form', { name: 'New profile' });
    await form.getByLabel('Name', { exact: true }).fill(name);
    await form.getByLabel('Slug').fill(slug);
    await form.getByLabel('CA', { exact: true }).selectOption({ label: 'Console Root' });
    await rules(form);
    await form.getByRole('button', { name: 'Create profile' }).click();
    await page.getByRole('row', { name: new RegExp(name) }).waitFor();
  };
  const saved = async (download: Download) => {
    const file = join(workDir, download.suggestedFilename());
    await download.saveAs(file);
    return file;
  };

  beforeAll(async () => {
    workDir = mkdtempSync(join(tmpdir(), 'signet-console-'));
    const env = { PLATFORM_ADMIN_KEY, WEBHOOK_SECRET_KEY: randomBytes(32).toString('base64') };
    signer = await startSigner();
    ({ gateway, url } = await startGatewayProcess(env));
    const created = await apiOk(url, 'POST', '/api/v1/platform/orgs', { key: PLATFORM_ADMIN_KEY, body: { name: 'Acme Console', slug: `console-${randomBytes(4).toString('hex')}` } });
    adminKey = created.adminKey;
    browser = await launchChromium();
    context = await newConsoleContext(browser, WIDE);
    page = await context.newPage();
    page.setDefaultTimeout(30_000);
  });

  afterAll(async () => {
    await browser?.close();
    if (gateway) await stopService(gateway);
    if (signer) await stopService(signer);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('serves the console at /console without a key, with a strict CSP, hashed assets cached, deep links falling back to index.html', async () => {
    const index = await fetch(`${url}/console`);
    expect(index.status).toBe(200);
    const csp = index.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).not.toMatch(/https?:/);
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('referrer-policy')).toBe('no-referrer');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    const html = await index.text();
    // Vite's output has no inline script or style for the CSP to refuse.
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|style=/);

    const deepLink = await fetch(`${url}/console/certificates/6f1c2d9e-0000-4000-8000-000000000001`);
    expect(deepLink.status).toBe(200);
    expect(await deepLink.text()).toBe(html);

    const asset = html.match(/src="(\/console\/assets\/[^"]+\.js)"/)?.[1] as string;
    const script = await fetch(`${url}${asset}`, { headers: { 'Accept-Encoding': 'gzip' } });
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    const revalidated = await fetch(`${url}${asset}`, { headers: { 'If-None-Match': script.headers.get('etag') as string } });
    expect(revalidated.status).toBe(304);

    // A missing asset and an unknown API path are the API's 404 in its error shape.
    const missing = await fetch(`${url}/console/assets/missing-0000.js`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: 'not_found', status: 404 });
    const api = await fetch(`${url}/api/v1/no-such-thing`);
    expect(api.status).toBe(404);
    expect(await api.json()).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('refuses a wrong key with the API message and request id, then signs in with an org admin key', async () => {
    await open('/');
    await page.getByLabel('API key').fill('sgn_00000000_wrong');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.getByText('Request id').waitFor();
    expect(await alert.textContent()).toMatch(/401 unauthorized/);
    await screenshot(page, 'sign-in-refused-1280');

    await page.getByLabel('API key').fill(adminKey);
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.getByTestId('signed-in-as').textContent()).toContain('Acme Console');
    // The key lives in this tab's sessionStorage only: no cookie, not in the address.
    expect(await context.cookies()).toEqual([]);
    expect(page.url()).not.toContain('sgn_');
    expect(await page.evaluate<string[]>('Object.values(sessionStorage)')).toContain(adminKey);
  });

  it('creates a root CA from the CA page', async () => {
    await page.getByRole('link', { name: 'Certificate authorities' }).click();
    await page.getByRole('button', { name: 'New CA' }).click();
    const form = page.getByRole('form', { name: 'New certificate authority' });
    await form.getByLabel('Name', { exact: true }).fill('Console Root');
    await form.getByLabel('Common name').fill('Console Root CA');
    await form.getByLabel('Organization').fill('Acme');
    // A field the API refuses is named under the message.
    await form.getByLabel('Country').fill('d1');
    await form.getByRole('button', { name: 'Create CA' }).click();
    await form.getByRole('alert').getByText('subject.country: country must be a two-letter ISO 3166 code').waitFor();
    expect(await form.getByRole('alert').textContent()).toMatch(/request validation failed \(400 validation_failed\)/);
    await form.getByLabel('Country').fill('de');
    await form.getByRole('button', { name: 'Create CA' }).click();
    await page.getByRole('heading', { name: 'Console Root', level: 2 }).waitFor();
    state.caId = page.url().split('/cas/')[1];
    expect(state.caId).toMatch(/^[0-9a-f-]{36}$/);
    const { ca } = await admin('GET', `/api/v1/cas/${state.caId}`);
    expect(ca).toMatchObject({ name: 'Console Root', type: 'root', subject: { commonName: 'Console Root CA', country: 'DE' } });

    const [chain] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Download chain (PEM)' }).click()]);
    const chainPem = readFileSync(await saved(chain), 'utf8');
    expect(new X509Certificate(chainPem).fingerprint256.replace(/:/g, '').toLowerCase()).toBe(ca.fingerprintSha256);
  });

  it('creates a profile, and issues under it: the form follows its rules, the managed key is shown once and downloads', async () => {
    await createProfile('Web servers', 'web', async (form) => {
      await form.getByLabel('Allowed domains').fill('example.test');
      await form.getByLabel('Allow wildcards').uncheck();
      await form.getByLabel('ECDSA-P256').check();
      await form.getByLabel('ECDSA-P384').check();
      await form.getByLabel('Maximum validity (days)').fill('120');
    });

    await page.getByRole('link', { name: 'Issue', exact: true }).click();
    await page.getByLabel('Profile', { exact: true }).selectOption({ label: 'Web servers' });
    const rules = page.getByLabel("The profile's rules");
    expect(await rules.textContent()).toContain('example.test');
    // Key choices are the profile's; validity is bounded by it.
    expect(await page.getByLabel('Key algorithm').locator('option').allTextContents()).toEqual(['ECDSA-P256', 'ECDSA-P384']);
    expect(await page.getByLabel('Validity (days)').getAttribute('max')).toBe('120');
    await page.getByLabel('Common name').fill('www.other.test');
    await page.getByText("Outside the profile's domains: www.other.test").waitFor();
    // The server is the judge: a refusal shows its message, rule and request id.
    await page.getByRole('button', { name: 'Issue' }).click();
    const refusal = page.getByRole('alert');
    await refusal.getByText('Request id').waitFor();
    expect(await refusal.textContent()).toMatch(/policy_violation, rule allowedDomains/);

    await page.getByLabel('Common name').fill('www.example.test');
    await page.getByLabel('More DNS names').fill('api.example.test');
    await page.getByLabel('Key algorithm').selectOption('ECDSA-P384');
    await page.getByLabel('Validity (days)').fill('60');
    await page.getByRole('button', { name: 'Issue' }).click();
    await page.getByRole('heading', { name: 'Certificate issued' }).waitFor();
    const keyPem = (await page.getByTestId('secret-value').textContent()) as string;
    expect(keyPem).toContain('-----BEGIN PRIVATE KEY-----');
    const [keyDownload] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: /^Download .*key\.pem$/ }).click()]);
    expect(readFileSync(await saved(keyDownload), 'utf8')).toBe(keyPem);
    await screenshot(page, 'issued-key-shown-once-1280');

    await page.getByRole('link', { name: 'Open the certificate' }).click();
    state.certificateId = page.url().split('/certificates/')[1];
    const { certificate } = await admin('GET', `/api/v1/certificates/${state.certificateId}`);
    expect(certificate).toMatchObject({ commonName: 'www.example.test', keyAlgorithm: 'ECDSA-P384', status: 'active', caId: state.caId });
    expect(certificate.sanDns).toEqual(expect.arrayContaining(['www.example.test', 'api.example.test']));
  });

  it('finds the certificate in the list (search, filters), downloads it, revokes it; openssl ocsp against the gateway says revoked', async () => {
    await admin('POST', '/api/v1/certificates', { caId: state.caId, commonName: 'other.internal', validityDays: 30 });
    await page.getByRole('link', { name: 'Certificates', exact: true }).click();
    await page.getByRole('link', { name: 'other.internal' }).waitFor();
    await page.getByLabel('Search', { exact: true }).fill('api.example');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await page.getByText('Page 1 of 1 · 1 item').waitFor();
    expect(await page.getByRole('link', { name: 'www.example.test' }).count()).toBe(1);
    expect(page.url()).toContain('search=api.example');

    await page.getByRole('link', { name: 'www.example.test' }).click();
    await page.getByRole('heading', { name: 'Details' }).waitFor();
    const [pem] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'PEM', exact: true }).click()]);
    const certFile = await saved(pem);
    const leaf = new X509Certificate(readFileSync(certFile));
    expect(leaf.subject).toContain('CN=www.example.test');
    const [der] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'DER', exact: true }).click()]);
    expect(new X509Certificate(readFileSync(await saved(der))).fingerprint256).toBe(leaf.fingerprint256);
    const [zip] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'ZIP', exact: true }).click()]);
    expect(readFileSync(await saved(zip)).subarray(0, 2).toString()).toBe('PK');

    const issuerFile = join(workDir, 'root.pem');
    writeFileSync(issuerFile, (await admin('GET', `/api/v1/cas/${state.caId}`)).ca.certificatePem);
    const ocsp = () =>
      execFileSync('openssl', ['ocsp', '-issuer', issuerFile, '-cert', certFile, '-url', `${url}/pki/ocsp`, '-CAfile', issuerFile, '-no_nonce', '-timeout', '10'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(ocsp()).toContain(': good');

    await page.getByLabel('Reason').selectOption('keyCompromise');
    page.once('dialog', (dialog) => void dialog.accept());
    await page.getByRole('button', { name: 'Revoke certificate' }).click();
    await page.getByText(/, keyCompromise$/).waitFor();
    await screenshot(page, 'certificate-revoked-1280');
    const answer = ocsp();
    expect(answer).toMatch(/: revoked/);
    expect(answer).toMatch(/Reason: keyCompromise/);
  });

  it('a four-eyes request waits for a second key: created in the API keys grid, shown once, used to sign in and approve', async () => {
    await createProfile('Payments', 'payments', (form) => form.getByLabel('Require approval by a second key').check());

    await page.getByRole('link', { name: 'Issue', exact: true }).click();
    await page.getByLabel('Profile', { exact: true }).selectOption({ label: 'Payments (approval)' });
    // Managed mode under approval keeps the key until someone approves: the box is checked and fixed.
    const storeKey = page.getByLabel(/Keep the private key encrypted on the server \(required/);
    expect(await storeKey.isChecked()).toBe(true);
    expect(await storeKey.isDisabled()).toBe(true);
    await page.getByLabel('Common name').fill('pay.example.test');
    await page.getByRole('button', { name: 'Request approval' }).click();
    await page.getByRole('heading', { name: 'Waiting for approval' }).waitFor();

    // The requester cannot decide its own request.
    await page.getByRole('link', { name: 'Approvals', exact: true }).click();
    await page.getByText('Your own request: another key must decide it.').waitFor();
    expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);

    await page.getByRole('link', { name: 'API keys' }).click();
    await page.getByRole('button', { name: 'New key' }).click();
    const keyForm = page.getByRole('form', { name: 'New API key' });
    await keyForm.getByLabel('Name', { exact: true }).fill('Second approver');
    await keyForm.getByLabel('approve on Console Root').check();
    // approve implies read (a grant on a CA the key cannot see would do nothing).
    expect(await keyForm.getByLabel('read on Console Root').isChecked()).toBe(true);
    await keyForm.getByRole('button', { name: 'Create key' }).click();
    await page.getByRole('heading', { name: 'API key Second approver' }).waitFor();
    state.approverKey = ((await page.getByTestId('secret-value').textContent()) as string).trim();
    expect(state.approverKey).toMatch(/^sgn_/);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: url });
    await page.getByRole('button', { name: 'Copy' }).click();
    await page.getByText('Copied to the clipboard.').waitFor();
    expect(await page.evaluate<string>('navigator.clipboard.readText()')).toBe(state.approverKey);
    await screenshot(page, 'api-key-shown-once-1280');
    const { apiKeys } = await admin('GET', '/api/v1/api-keys?pageSize=100');
    const approver = apiKeys.find((k: { name: string }) => k.name === 'Second approver');
    state.approverKeyId = approver.id;
    expect(approver).toMatchObject({ role: 'member', permissions: { [state.caId as string]: { read: true, approve: true } } });
    expect(approver.permissions[state.caId as string]).not.toMatchObject({ issue: true });
    expect(approver.permissions[state.caId as string]).not.toMatchObject({ revoke: true });

    await page.getByRole('button', { name: 'Sign out' }).click();
    await signIn(state.approverKey);
    expect(await page.getByTestId('signed-in-as').textContent()).toContain('Second approver (member)');
    await page.getByRole('link', { name: 'Approvals', exact: true }).click();
    await page.getByRole('heading', { name: /pay\.example\.test/ }).waitFor();
    await screenshot(page, 'approvals-pending-1280');
    await page.getByRole('button', { name: 'Approve' }).click();
    await page.getByText(/^Approved: pay\.example\.test issued/).waitFor();

    const { approvals } = await admin('GET', '/api/v1/approvals?status=approved');
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatchObject({ status: 'approved', decidedBy: { id: state.approverKeyId } });
    const { certificate } = await admin('GET', `/api/v1/certificates/${approvals[0].certificateId}`);
    expect(certificate).toMatchObject({ commonName: 'pay.example.test', status: 'active', hasStoredKey: true });
  });

  it('a key revoked while signed in sends the tab back to sign-in on its next call', async () => {
    await admin('DELETE', `/api/v1/api-keys/${state.approverKeyId}`);
    await page.getByRole('link', { name: 'Certificates', exact: true }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    await page.getByText(/^Signed out: /).waitFor();
    expect(await page.evaluate<string[]>('Object.keys(sessionStorage)')).toEqual([]);
    expect((await apiCall(url, 'GET', '/api/v1/whoami', { key: state.approverKey as string })).status).toBe(401);
  });

  describe.each([
    ['1280', WIDE],
    ['390', NARROW],
  ])('every page at %s px', (width, viewport) => {
    let pageContext: BrowserContext;
    let view: Page;

    beforeAll(async () => {
      // Something to show: certificates ending across the next 90 days, one renewal that failed.
      if (width === '1280') {
        const { profiles } = await admin('GET', '/api/v1/profiles');
        const payments = profiles.find((p: { slug: string }) => p.slug === 'payments');
        await admin('POST', '/api/v1/certificates', { profileId: payments.id, commonName: 'billing.example.test', storeKey: true });
        for (const [i, days] of [3, 9, 12, 20, 26, 33, 41, 47, 55, 61, 62, 70, 83, 88].entries()) {
          await admin('POST', '/api/v1/certificates', { caId: state.caId, commonName: `svc-${i}.example.test`, validityDays: days });
        }
      }
      pageContext = await newConsoleContext(browser, viewport);
      view = await pageContext.newPage();
      view.setDefaultTimeout(30_000);
      await view.goto(`${url}/console/`);
      await view.getByLabel('API key').fill(adminKey);
      await view.getByRole('button', { name: 'Sign in' }).click();
      await view.getByTestId('signed-in-as').waitFor();
    });

    afterAll(() => pageContext?.close());

    const pages: [string, () => string, string][] = [
      ['dashboard', () => '/', 'Dashboard'],
      ['cas', () => `/cas/${state.caId}`, 'Certificate authorities'],
      ['certificates', () => '/certificates', 'Certificates'],
      ['certificate', () => `/certificates/${state.certificateId}`, 'www.example.test'],
      ['issue', () => '/issue', 'Issue a certificate'],
      ['approvals', () => '/approvals', 'Approvals'],
      ['profiles', () => '/profiles', 'Profiles'],
      ['api-keys', () => '/api-keys', 'API keys'],
      ['webhooks', () => '/webhooks', 'Webhooks'],
      ['agents', () => '/agents', 'Agents'],
      ['discovered', () => '/discovered', 'Discovered certificates'],
      ['audit', () => '/audit', 'Audit log'],
    ];

    it.each(pages)('%s: screenshot, no serious axe-core violation, no CSP violation', async (name, path, heading) => {
      await view.goto(`${url}/console${path()}`);
      await view.getByRole('heading', { name: heading, level: 1 }).waitFor();
      // Every load of the page has answered (no "Loading" left), so the check sees what a person sees.
      // A function, not a string: a string would be eval'd in the page, which its CSP (rightly) refuses.
      await view.waitForFunction(() => {
        const statuses: { textContent: string | null }[] = [...(globalThis as any).document.querySelectorAll('[role="status"]')];
        return !statuses.some((e) => e.textContent?.startsWith('Loading'));
      });
      if (name === 'dashboard') await view.getByRole('img', { name: /Certificates expiring in the next 90 days/ }).waitFor();
      await screenshot(view, `${name}-${width}`);
      expect(await seriousAxeViolations(view)).toEqual([]);
      expect(await cspViolations(view)).toEqual([]);
      // Nothing is wider than the screen (the tables scroll inside their own box).
      expect(await view.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(viewport.width);
    });

    it('navigation works from the keyboard: skip link, then the menu', async () => {
      await view.goto(`${url}/console/`);
      await view.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor();
      await view.keyboard.press('Tab');
      expect(await view.evaluate<string>('document.activeElement.textContent')).toBe('Skip to content');
      if (viewport === NARROW) {
        await view.getByRole('button', { name: 'Menu' }).focus();
        await view.keyboard.press('Enter');
        expect(await view.getByRole('button', { name: 'Menu' }).getAttribute('aria-expanded')).toBe('true');
      }
      await view.getByRole('link', { name: 'Audit log' }).focus();
      await view.keyboard.press('Enter');
      await view.getByRole('heading', { name: 'Audit log', level: 1 }).waitFor();
      expect(view.url()).toBe(`${url}/console/audit`);
    });
  });
});
