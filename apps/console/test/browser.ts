/**
 * Debian's chromium driven by playwright-core (never a downloaded browser), with what every console test
 * checks on every page: Content-Security-Policy violations recorded by the page itself, and axe-core's
 * verdict (its script evaluated through the DevTools protocol, which the page's CSP does not govern, so
 * the console's own policy stays strict during the check).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, BrowserContext, Page, chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots of every page at both widths: test artifacts, under the gitignored tmp/. */
export const SCREENSHOT_DIR = join(__dirname, '../../../tmp/console-screenshots');

export const WIDE = { width: 1280, height: 900 };
export const NARROW = { width: 390, height: 844 };

export function launchChromium(): Promise<Browser> {
  // Chromium refuses its sandbox to root (CI containers): there it runs without one, as in every container CI.
  const args = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args });
}

/** A new context (its own sessionStorage) whose pages record every CSP violation. */
export async function newConsoleContext(browser: Browser, viewport = WIDE): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  // Scripts as text: they run in the page, whose DOM types this Node project does not compile against.
  await context.addInitScript({
    content: `window.__cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));`,
  });
  return context;
}

export async function cspViolations(page: Page): Promise<string[]> {
  return page.evaluate<string[]>('window.__cspViolations ?? []');
}

const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[]; failureSummary?: string }[];
}

/** axe-core's violations of impact serious or critical (WCAG 2.x A and AA rules and best practices). */
export async function seriousAxeViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE_SOURCE);
  const violations = await page.evaluate<AxeViolation[]>(`axe.run(document, { resultTypes: ['violations'] }).then((result) =>
    result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) })))`);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
