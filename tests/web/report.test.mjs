// report.test.mjs: `moescope report` writes one self-contained HTML file that opens from disk
// without a network and shows its charts, heatmap, health table and alerts; --png writes PNGs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { artifacts, fixtureLogdir, launchBrowser, run } from './helpers.mjs';

test('the report file opens offline and shows its charts', async () => {
  const fx = fixtureLogdir();
  const browser = await launchBrowser();
  try {
    const out = join(fx.dir, 'report.html'), pngs = join(fx.dir, 'png');
    const r = await run(['report', '--run', join(fx.logdir, 'collapse-on'), '-o', out, '--png', pngs]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /warning: .*metrics\.jsonl:21: skipped record/);  // the fixture's broken line
    const html = readFileSync(out, 'utf8');
    assert.ok(!/<script src=|<link rel="stylesheet" href=/.test(html), 'every asset is inlined');
    for (const name of ['heatmap.png', 'entropy.png']) {
      const png = readFileSync(join(pngs, name));
      assert.equal(png.subarray(1, 4).toString(), 'PNG');
      assert.ok(png.length > 2000, name);
    }
    const context = await browser.newContext({ offline: true, viewport: { width: 1500, height: 1700 } });
    const page = await context.newPage();
    const requests = [];
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(out).href);
    await page.waitForSelector('#heatmap-load canvas', { timeout: 15000 });
    assert.ok(requests.every((u) => u.startsWith('file:') || u.startsWith('data:')), requests.join(' '));
    assert.ok((await page.$$('.uplot')).length >= 8);
    assert.deepEqual(await page.$eval('#heatmap-load canvas', (c) => [Number(c.dataset.rows), Number(c.dataset.cols)]), [3, 8]);
    assert.equal(await page.textContent('#step-label'), '200');
    assert.equal(await page.$$eval('#health-table tr', (rows) => rows.length), 4);
    assert.ok((await page.$$('#event-list li.alert-item')).length >= 3);
    await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true });
    await context.close();
  } finally {
    await browser.close();
    fx.cleanup();
  }
});

test('a compression run report charts its per-group fields and tables its banks', async () => {
  const fx = fixtureLogdir();
  const browser = await launchBrowser();
  try {
    const out = join(fx.dir, 'compress.html');
    const r = await run(['report', '--run', join(fx.logdir, 'compress-demo'), '-o', out]);
    assert.equal(r.code, 0, r.err);
    const page = await (await browser.newContext({ offline: true })).newPage();
    await page.goto(pathToFileURL(out).href);
    await page.waitForSelector('#chart-compress-rel_error .uplot', { timeout: 15000 });
    assert.ok(await page.isHidden('#heatmap-section'));
    const labels = await page.$$eval('#chart-compress-rel_error .u-legend .u-label', (els) => els.map((e) => e.textContent));
    assert.deepEqual(labels.filter((l) => l !== 'step'), ['layer1.gate', 'layer1.up', 'layer2.gate', 'layer2.up']);
    // The per-bank summary table, offline too (4 banks + totals).
    assert.equal((await page.$$('#compress-table tbody tr')).length, 5);
  } finally {
    await browser.close();
    fx.cleanup();
  }
});
