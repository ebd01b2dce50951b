/**
 * Debian's chromium (/usr/bin/chromium, installed by scripts/setup-test-env.sh) driven by
 * playwright-core, for the console's browser tests and bench/console.ts. Every request to a host
 * other than the hub is blocked and recorded (a customer's offline network).
 */
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import path from 'node:path';
import { repoRoot } from './hub.js';

const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SCREENSHOTS = path.join(repoRoot, 'docs', 'screenshots');

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
}

/** A 1280 px wide context that may use the clipboard, with every request off the hub blocked into `blocked`. */
export async function hubContext(browser: Browser, hubUrl: string, blocked: string[]): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: hubUrl });
  const hubHost = new URL(hubUrl).host;
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.host === hubHost || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
    blocked.push(url.href);
    return route.abort('internetdisconnected');
  });
  return context;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`) });
}

/** Sign in through the console's form and wait for the overview. */
export async function signInAs(page: Page, hubUrl: string, email: string, password: string): Promise<void> {
  await page.goto(hubUrl);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Overview' }).waitFor();
}
