// profile.test.mjs: a `scope --model` run in the dashboard: an expert's top tokens on hover and
// click in the load heatmap, and the corpus-vs-corpus view (share difference, specialisation).
// The run is made here by the binary from the olmoe fixture over two generated corpora.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, launchBrowser, root, run, startDashboard } from './helpers.mjs';

let dir, server, browser, page;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'moescope-web-profile-'));
  const words = 'the king and queen of a land where rivers run to sea under bright stars'.split(' ');
  let prose = '', digits = '';
  for (let i = 0; i < 400; i++) prose += words[(i * 7) % words.length] + (i % 12 === 11 ? '.\n' : ' ');
  for (let i = 0; i < 600; i++) digits += String((i * 7919) % 10007) + (i % 10 === 9 ? '\n' : ' ');
  writeFileSync(join(dir, 'prose.txt'), prose);
  writeFileSync(join(dir, 'digits.txt'), digits);
  mkdirSync(join(dir, 'logs'));
  const r = await run(['scope', '--model', join(root, 'tests/fixtures/hf/olmoe'), '--data', join(dir, 'prose.txt'), '--data',
    join(dir, 'digits.txt'), '--out', join(dir, 'logs/olmoe-scope'), '--device', 'cpu', '--batch', '4', '--seq-len', '32',
    '--log-every', '5', '--cache-dir', join(dir, 'cache')]);
  assert.equal(r.code, 0, r.err);
  server = await startDashboard(join(dir, 'logs'));
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1500, height: 1700 } });
  await page.goto(server.url + '#run=olmoe-scope');
  await page.waitForSelector('#heatmap-load canvas', { timeout: 15000 });
  await page.waitForSelector('#heatmap-corpus-diff canvas', { timeout: 15000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('/api/profile serves the run\'s routing profile, and 404 for a run without one', async () => {
  const p = await (await fetch(server.url + 'api/profile?run=olmoe-scope')).json();
  assert.equal(p.corpora.length, 2);
  assert.ok(p.layers.length >= 1);
  assert.equal(p.layers[0].top_tokens.length, p.layers[0].experts);
  const file = JSON.parse(readFileSync(join(dir, 'logs/olmoe-scope/routing_profile.json'), 'utf8'));
  assert.deepEqual(p.layers[0].top_tokens, file.layers[0].top_tokens);
  const missing = await fetch(server.url + 'api/profile?run=nope');
  assert.equal(missing.status, 404);
});

test('hovering and clicking a load heatmap cell shows that expert\'s top tokens', async () => {
  const p = await (await fetch(server.url + 'api/profile?run=olmoe-scope')).json();
  const canvas = page.locator('#heatmap-load canvas');
  const d = await canvas.evaluate((c) => ({ left: +c.dataset.left, top: +c.dataset.top, cell: +c.dataset.cell, cellH: +c.dataset.cellH }));
  // the busiest expert of the first MoE layer: it has tokens to show
  const l = p.layers[0];
  const e = l.counts.indexOf(Math.max(...l.counts));
  const pos = { x: d.left + e * d.cell + d.cell / 2, y: d.top + d.cellH / 2 };
  await canvas.hover({ position: pos });
  await page.waitForSelector('#expert-tip:not([hidden])', { timeout: 2000 });
  const tip = await page.textContent('#expert-tip');
  assert.match(tip, new RegExp(`L${l.layer} expert ${e}:`));
  assert.ok(tip.includes(JSON.stringify(l.top_tokens[e][0].text)), `${tip} lacks the top token ${l.top_tokens[e][0].text}`);
  // its count, or the bounded counter's range when it is not exact (count_error > 0)
  const t0 = l.top_tokens[e][0];
  const shown = t0.count_error ? `${t0.count - t0.count_error}–${t0.count}` : `${t0.count}`;
  assert.ok(tip.includes(`(${shown})`), `${tip} lacks the count (${shown})`);
  await canvas.click({ position: pos });
  const pinned = await page.textContent('#expert-tokens');
  assert.match(pinned, new RegExp(`L${l.layer} expert ${e}:`));
  assert.match(pinned, /specialisation/);
  await page.screenshot({ path: join(artifacts, 'dashboard-profile.png') });
});

test('the corpus-vs-corpus view draws share difference and specialisation per layer and expert', async () => {
  const p = await (await fetch(server.url + 'api/profile?run=olmoe-scope')).json();
  assert.equal(await page.isVisible('#corpus-section'), true);
  for (const id of ['#heatmap-corpus-diff canvas', '#heatmap-specialisation canvas']) {
    const dims = await page.$eval(id, (c) => [Number(c.dataset.rows), Number(c.dataset.cols)]);
    assert.deepEqual(dims, [p.layers.length, p.layers[0].experts]);
  }
  // the difference is symmetric around 0 by construction: a diverging scale
  const [lo, hi] = await page.$eval('#heatmap-corpus-diff canvas', (c) => [Number(c.dataset.min), Number(c.dataset.max)]);
  assert.ok(Math.abs(lo + hi) < 1e-12 && hi > 0);
  assert.match(await page.textContent('#caption-corpus-diff'), /prose\.txt minus .*digits\.txt/);
  const listed = await page.locator('#specialised-list li').count();
  assert.ok(listed >= 1 && listed <= 10, String(listed));
  assert.match(await page.textContent('#agreement-list'), /MI [0-9.]+ nats/);
  // swapping the corpora negates the difference
  await page.selectOption('#corpus-a', '1');
  await page.selectOption('#corpus-b', '0');
  await page.waitForFunction(() => /digits\.txt minus .*prose\.txt/.test(document.getElementById('caption-corpus-diff').textContent));
  await page.screenshot({ path: join(artifacts, 'dashboard-corpora.png'), fullPage: true });
});
