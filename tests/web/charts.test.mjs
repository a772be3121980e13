// charts.test.mjs: chart labels in a real browser: the y-axis tick labels of a tokens/s chart
// in the thousands read "12k", never a clipped exponent (".0e+4"); the per-layer CV chart names
// its pooled series "all layers", never a bare "L". The run is a small `scope --model`-shaped
// log written here.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { artifacts, fixtureLogdir, launchBrowser, startDashboard } from './helpers.mjs';

let fx, server, browser, page;

function spread(cv) { return { p50: 100, p90: 150, p99: 160, min: 40, max: 170, cv }; }

before(async () => {
  fx = fixtureLogdir();
  const dir = join(fx.logdir, 'scope-demo');
  mkdirSync(dir);
  const lines = [];
  for (let step = 1; step <= 6; ++step) {
    const moe = [1, 2].map((layer) => ({ layer, counts: [100, 120, 90, 110], load: [0.24, 0.28, 0.22, 0.26], entropy_norm: 0.99,
      n_eff: 3.9, maxvio_batch: 0.1 + 0.01 * layer, tokens_per_expert: spread(0.1 * layer + 0.01 * step) }));
    lines.push(JSON.stringify({ schema: 1, type: 'train', step, loss: 3 - 0.1 * step, tokens_per_s: 11000 + 800 * step, tokens: 512 * step,
      corpus: 'demo.txt', elapsed_s: step, moe, moe_summary: { tokens_per_expert: spread(0.2 + 0.01 * step) } }));
  }
  writeFileSync(join(dir, 'metrics.jsonl'), lines.join('\n') + '\n');
  server = await startDashboard(fx.logdir);
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1500, height: 1700 } });
  await page.goto(server.url + '#run=scope-demo');
  await page.waitForSelector('#chart-tps .uplot', { timeout: 15000 });
  await page.waitForSelector('#chart-tpe-cv .uplot', { timeout: 15000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (fx) fx.cleanup();
});

test('tick labels are short and whole: 12k, 1.5M, 2.5e-4', async () => {
  const got = await page.evaluate(() => [10000, 12500, 15000, 1.5e6, 2e9, 0.00025, 0.5, 3, 999, -12000].map(MoeCharts.fmtTick));
  assert.deepEqual(got, ['10k', '12.5k', '15k', '1.5M', '2G', '2.5e-4', '0.5', '3', '999', '-12k']);
  // The tokens/s chart as drawn (uPlot keeps each axis's last labels in _values).
  const labels = await page.$eval('#chart-tps', (c) => (c._plot.axes[1]._values || []).map(String));
  assert.ok(labels.length >= 2, labels.join());
  for (const l of labels) {
    assert.ok(!l.startsWith('.') && !l.includes('e+'), `tick label ${l}`);
    assert.match(l, /^-?\d+(\.\d+)?k$/, `tokens/s of 11,800 to 15,800 in thousands: ${labels}`);
  }
  await page.screenshot({ path: join(artifacts, 'charts-scope-demo.png') });
});

test('the CV chart names the pooled series instead of a bare "L"', async () => {
  const labels = await page.$$eval('#chart-tpe-cv .u-legend .u-label', (els) => els.map((e) => e.textContent));
  assert.deepEqual(labels.filter((l) => l !== 'step').sort(), ['L1', 'L2', 'all layers']);
});
