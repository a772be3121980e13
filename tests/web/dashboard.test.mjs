// dashboard.test.mjs: the live dashboard in a real browser (Debian chromium via playwright-core):
// the fixture run loads, the heatmap has one row per layer and one column per expert, the step
// slider changes the step shown, an appended record appears live, an alert click moves the
// slider, runs can be compared, compression runs are charted, and bad requests get JSON 4xx.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, fixtureLogdir, launchBrowser, root, startDashboard } from './helpers.mjs';

let fx, server, browser, page;

before(async () => {
  fx = fixtureLogdir();
  server = await startDashboard(fx.logdir);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1500, height: 1700 } });
  await page.goto(server.url + '#run=collapse-on');
  await page.waitForSelector('#heatmap-load canvas', { timeout: 15000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (fx) fx.cleanup();
});

test('the fixture run loads with its charts', async () => {
  assert.equal(await page.$eval('#run-select', (s) => s.value), 'collapse-on');
  assert.equal(await page.textContent('#last-step'), '200');
  const titles = await page.$$eval('.uplot', (els) => els.map((e) => e.dataset.title));
  for (const t of ['loss (train, validation)', 'load entropy (normalised)', 'MaxVio (batch)', 'drop rate'])
    assert.ok(titles.includes(t), `chart "${t}" missing from ${titles}`);
  // the two broken lines of the fixture are skipped and reported, not fatal
  assert.match(await page.textContent('#warning-list'), /skipped record/);
  await page.screenshot({ path: join(artifacts, 'dashboard.png'), fullPage: false });
  if (process.env.MOESCOPE_UPDATE_DOCS) copyFileSync(join(artifacts, 'dashboard.png'), join(root, 'docs/dashboard.png'));
});

test('the heatmap has one row per layer and one column per expert', async () => {
  const meta = await (await fetch(server.url + 'api/run?run=collapse-on')).json();
  const dims = await page.$eval('#heatmap-load canvas', (c) => [Number(c.dataset.rows), Number(c.dataset.cols)]);
  assert.deepEqual(dims, [meta.layers.length, meta.experts]);
  assert.deepEqual(dims, [3, 8]);
  const toggles = await page.$$eval('#layer-toggles input', (els) => els.map((e) => e.dataset.layer));
  assert.deepEqual(toggles, ['1', '2', '3']);
});

test('moving the slider changes the step shown', async () => {
  await page.$eval('#step-slider', (s) => { s.value = 55; s.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.getElementById('step-label').textContent === '50');
  await page.$eval('#step-slider', (s) => { s.value = 100; s.dispatchEvent(new Event('input')); });
  await page.waitForFunction(() => document.getElementById('step-label').textContent === '100');
  assert.equal(await page.textContent('#health-section .step-echo'), '100');
  await page.screenshot({ path: join(artifacts, 'dashboard-step100.png') });
});

test('clicking an alert moves the slider to its step', async () => {
  const item = page.locator('#event-list li.alert-item').nth(2);
  const step = Number(await item.getAttribute('data-step'));
  assert.ok(step > 0);
  await item.click();
  await page.waitForFunction((s) => document.getElementById('step-label').textContent === String(s), step);
  assert.equal(Number(await page.$eval('#step-slider', (s) => s.value)), step);
  await page.screenshot({ path: join(artifacts, 'dashboard-alert.png') });
});

test('a record appended to the log appears live within 2 s', async () => {
  // follow the newest step again, then append a train record like the trainer does
  await page.$eval('#step-slider', (s) => { s.value = s.max; s.dispatchEvent(new Event('input')); });
  const log = join(fx.logdir, 'collapse-on/metrics.jsonl');
  const lines = readFileSync(log, 'utf8').trim().split('\n');
  const last = JSON.parse(lines.filter((l) => l.includes('"type":"train"')).pop());
  last.step = 210;
  last.loss = 1.2345;
  last.moe[0].load = [0.5, 0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05];
  const t0 = Date.now();
  appendFileSync(log, JSON.stringify(last) + '\n');
  await page.waitForFunction(() => document.getElementById('last-step').textContent === '210', null, { timeout: 2000 });
  await page.waitForFunction(() => document.getElementById('step-label').textContent === '210', null, { timeout: 2000 });
  const elapsed = Date.now() - t0;
  console.log(`live update shown after ${elapsed} ms`);
  assert.ok(elapsed <= 2000);
  // a half-written line is not shown and not an error
  appendFileSync(log, '{"schema":1,"type":"train","step":220,"loss":');
  await new Promise((r) => setTimeout(r, 1200));
  assert.equal(await page.textContent('#last-step'), '210');
});

test('two runs compare on the same axes', async () => {
  await page.selectOption('#compare-select', 'seed-iter2');
  try {
    await page.waitForSelector('#heatmap-load-b canvas');
    // The charts redraw after both runs' series arrived: wait for the legend (up to 10 s), not a fixed time.
    const both = (els) => {
      const l = els.map((e) => e.textContent);
      return l.some((x) => x.includes('collapse-on')) && l.some((x) => x.includes('seed-iter2'));
    };
    await page.waitForFunction((f) => new Function('return ' + f)()(
      [...document.querySelectorAll('#chart-loss .u-legend .u-label')]), both.toString(), { timeout: 10000 })
      .catch(() => {});
    const labels = await page.$$eval('#chart-loss .u-legend .u-label', (els) => els.map((e) => e.textContent));
    assert.ok(both(labels.map((t) => ({ textContent: t }))), labels.join());
    await page.screenshot({ path: join(artifacts, 'dashboard-compare.png') });
  } finally {
    await page.selectOption('#compare-select', '');  // later tests expect a single run
  }
});

test('a compression run charts its per-group fields over iterations', async () => {
  await page.selectOption('#run-select', 'compress-demo');
  await page.waitForSelector('#chart-compress-rel_error .uplot');
  // Wait for the legend to hold its series (an empty legend would pass `every` vacuously).
  await page.waitForFunction(() => {
    const labels = [...document.querySelectorAll('#chart-compress-rel_error .u-legend .u-label')];
    return labels.length > 1 && labels.every((e) => !e.textContent.includes('·'));
  }, null, { timeout: 10000 }).catch(() => {});
  const labels = await page.$$eval('#chart-compress-rel_error .u-legend .u-label', (els) => els.map((e) => e.textContent));
  assert.deepEqual(labels.filter((l) => l !== 'step'), ['layer1.gate', 'layer1.up', 'layer2.gate', 'layer2.up']);
  await page.screenshot({ path: join(artifacts, 'dashboard-compress.png') });
});

test('a compression run shows a per-bank table and no charts of constant fields', async () => {
  await page.selectOption('#run-select', 'compress-demo');
  await page.waitForSelector('#compress-table tbody tr');
  const rows = await page.$$eval('#compress-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  // The summary record's banks (params) joined with its groups (final errors), then the totals.
  assert.deepEqual(rows[0], ['layer1.gate', '1', 'gate', '0.105', '8', '4,096', '928', '77.3%']);
  assert.equal(rows.length, 5);
  assert.deepEqual(rows.map((r) => r[0]), ['layer1.gate', 'layer1.up', 'layer2.gate', 'layer2.up', 'routed experts, all banks']);
  assert.deepEqual(rows[4].slice(1), ['16,384', '3,712', '77.3%']);
  assert.match(await page.textContent('#compress-summary .compress-settings'), /solver altmin, scope layer, activation silu/);
  assert.equal(await page.$('#compress-summary pre'), null);  // no raw JSON
  // `seconds` is constant by construction and `nonfinite` stays 0 here: neither is charted.
  // (Charts are added one by one; elapsed_s, the run-level field, comes last.)
  await page.waitForSelector('#chart-compress-elapsed_s .uplot', { timeout: 10000 });
  const charts = await page.$$eval('#compress-charts .chart', (els) => els.map((e) => e.id));
  assert.ok(charts.includes('chart-compress-rel_error'), charts.join());
  assert.ok(charts.includes('chart-compress-support_median'), charts.join());
  assert.ok(!charts.includes('chart-compress-seconds'), charts.join());
  assert.ok(!charts.includes('chart-compress-nonfinite'), charts.join());
});

test('bad requests get a JSON 4xx and nothing outside the log directory is served', async () => {
  for (const [path, status] of [['api/series?run=collapse-on&field=loss&points=x', 400], ['api/run?run=../../etc', 404],
    ['api/heatmap?run=collapse-on&field=passwd', 400], ['../../etc/passwd', 404], ['assets/..%2F..%2Fetc%2Fpasswd', 404],
    ['api/nope', 404]]) {
    const res = await fetch(server.url + path);
    assert.equal(res.status, status, path);
    assert.ok(typeof (await res.json()).error === 'string', path);
  }
});
