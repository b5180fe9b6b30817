// SPDX-License-Identifier: MIT
// The web page in a real browser: Debian's Chromium driven by
// playwright-core (which never downloads a browser). Run by run.sh, which
// says where the server is:
//   JOBD_WEB_URL    base URL of jobd's HTTP listener, e.g. http://127.0.0.1:7880
//   JOBD_WEB_TOKEN  a user's token ("" when the server has no auth section)
//   JOBD_WEB_SHOTS  folder for the screenshots (optional)
//   CHROMIUM        the browser (default /usr/bin/chromium)
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, readFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const BASE = process.env.JOBD_WEB_URL;
const TOKEN = process.env.JOBD_WEB_TOKEN || '';
const SHOTS = process.env.JOBD_WEB_SHOTS || '';
const LAPTOP = { width: 1280, height: 800 };
const PHONE = { width: 375, height: 812 };

let profile;
let context;
let page;
const pageErrors = []; // uncaught exceptions in the page

before(async () => {
  assert.ok(BASE, 'JOBD_WEB_URL must name the server');
  profile = mkdtempSync(join(tmpdir(), 'jobd-web-'));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    acceptDownloads: true,
    viewport: LAPTOP,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
      '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = context.pages()[0] || (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

afterEach(() => {
  assert.deepEqual(pageErrors.splice(0), [], 'no uncaught exception in the page');
});

after(async () => {
  if (context) await context.close();
  if (profile) rmSync(profile, { recursive: true, force: true });
});

async function useToken(token) {
  await page.getByLabel('Token', { exact: true }).fill(token);
  await page.getByRole('button', { name: 'Use token' }).click();
}

async function jobIds() {
  return page.locator('#jobs .job').evaluateAll((lis) => lis.map((li) => li.dataset.job));
}

// Submits a detached job from the form and answers its card once it shows.
async function submit(plugin, input) {
  const seen = new Set(await jobIds());
  await page.getByLabel('Plugin', { exact: true }).selectOption(plugin);
  await page.getByLabel('Input (JSON)', { exact: true }).fill(input);
  await page.getByLabel(/Detached job/).check();
  await page.getByRole('button', { name: 'Run' }).click();
  let id;
  for (let i = 0; i < 100 && !id; i++) {
    id = (await jobIds()).find((j) => !seen.has(j));
    if (!id) await page.waitForTimeout(50);
  }
  assert.ok(id, 'the new job shows in "My jobs"');
  return page.locator('.job[data-job="' + id + '"]');
}

async function state(card) {
  return card.getAttribute('data-state');
}

test('loads / and asks for a token', async () => {
  await page.goto(BASE + '/');
  await assert.doesNotReject(page.getByRole('heading', { name: 'jobd' }).waitFor());
  if (TOKEN) {
    await useToken('not-the-token');
    await page.getByRole('alert').filter({ hasText: 'valid token' }).waitFor({ timeout: 5000 });
  }
  await useToken(TOKEN);
  await page.getByRole('cell', { name: /^sleep / }).waitFor({ timeout: 5000 });
  assert.equal(await page.getByRole('alert').isVisible(), false);
});

test('refuses input that is not JSON before sending it', async () => {
  let sent = 0;
  const count = (req) => { if (req.url().includes('/v1/plugins/')) sent++; };
  page.on('request', count);
  await page.getByLabel('Plugin', { exact: true }).selectOption('sleep');
  await page.getByLabel('Input (JSON)', { exact: true }).fill('{"ms": }');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.locator('#run-input-error').filter({ hasText: 'Not valid JSON' }).waitFor();
  assert.equal(await page.getByLabel('Input (JSON)', { exact: true }).getAttribute('aria-invalid'), 'true');
  page.off('request', count);
  assert.equal(sent, 0);
});

test('runs a call and waits for its answer, or shows its error', async () => {
  await page.getByLabel('Plugin', { exact: true }).selectOption('echo');
  await page.getByLabel('Input (JSON)', { exact: true }).fill('{"x": 42}');
  await page.getByLabel(/Detached job/).uncheck();
  await page.getByRole('button', { name: 'Run' }).click();
  const out = page.locator('#call-result pre');
  await out.waitFor({ timeout: 10000 });
  assert.deepEqual(JSON.parse(await out.textContent()), { x: 42 });

  await page.getByLabel('Plugin', { exact: true }).selectOption('sleep');
  await page.getByLabel('Input (JSON)', { exact: true }).fill('{"ms": "soon"}');
  await page.getByRole('button', { name: 'Run' }).click();
  await page.getByRole('alert').filter({ hasText: /^sleep: [a-z_]+: / }).waitFor({ timeout: 10000 });
  await page.getByLabel(/Detached job/).check();
});

test('a sleep job: the progress bar moves, then finishes', async () => {
  const card = await submit('sleep', '{"ms": 3000}');
  const bar = card.locator('progress');
  const values = [];
  for (let i = 0; i < 400 && (await state(card)) !== 'done'; i++) {
    values.push(Number(await bar.getAttribute('value')));
    await page.waitForTimeout(50);
  }
  assert.equal(await state(card), 'done');
  const between = new Set(values.filter((v) => v > 0 && v < 1));
  assert.ok(between.size >= 3, 'saw the bar at several places between 0 and 1: ' + [...between]);
  for (let i = 1; i < values.length; i++) assert.ok(values[i] >= values[i - 1], 'never goes back');
  assert.equal(Number(await bar.getAttribute('value')), 1);
  assert.equal(await card.locator('.job-percent').textContent(), '100 %');

  const [download] = await Promise.all([
    page.waitForEvent('download'),
    card.getByRole('button', { name: 'Download result (JSON)' }).click(),
  ]);
  const result = JSON.parse(readFileSync(await download.path(), 'utf8'));
  assert.deepEqual(result.output, { slept_ms: 3000 });
  assert.equal(result.state, 'done');
  assert.ok(result.provenance, 'the download carries the provenance');
});

test('cancels another job', async () => {
  const card = await submit('sleep', '{"ms": 60000}');
  // Let it run a little, so that a running job is what gets cancelled.
  const bar = card.locator('progress');
  for (let i = 0; i < 200 && !(Number(await bar.getAttribute('value')) > 0); i++) await page.waitForTimeout(50);
  assert.equal(await state(card), 'running');
  await card.getByRole('button', { name: 'Cancel' }).click();
  for (let i = 0; i < 200 && (await state(card)) !== 'cancelled'; i++) await page.waitForTimeout(50);
  assert.equal(await state(card), 'cancelled');
  assert.equal(await card.getByRole('button', { name: 'Cancel' }).isVisible(), false);
  assert.match(await card.locator('.job-message').textContent(), /cancelled/);
});

test('fits a phone: no horizontal scroll at 375 px', async () => {
  if (SHOTS) {
    mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: join(SHOTS, 'laptop.png'), fullPage: true });
  }
  await page.setViewportSize(PHONE);
  await page.waitForTimeout(200);
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  assert.ok(widths[0] <= widths[1], 'page width ' + widths[0] + ' fits the window ' + widths[1]);
  if (SHOTS) await page.screenshot({ path: join(SHOTS, 'phone.png'), fullPage: true });
  await page.setViewportSize(LAPTOP);
});
