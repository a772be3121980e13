// dashboard_page.mjs: times the dashboard page in chromium against a running server, e.g. on
// the big log that `dashboard_bench --dir /tmp/big --keep` leaves behind:
//   build/moescope dashboard --logdir /tmp/big --port 8601 &
//   node bench/dashboard_page.mjs http://127.0.0.1:8601/
// Waits until the server has indexed every run, then prints the time to draw the whole page and
// the time for a slider move to redraw the heatmaps and health table.
import { chromium } from 'playwright-core';

const url = process.argv[2] || 'http://127.0.0.1:8501/';
let last = null;
for (;;) {
  const runs = await fetch(url + 'api/runs').then((r) => r.json()).catch(() => null);
  if (!runs) { await new Promise((r) => setTimeout(r, 500)); continue; }  // not up yet
  const now = JSON.stringify(runs.map((r) => r.version));
  if (now === last) break;  // nothing changed for 2 s: indexing is done
  last = now;
  await new Promise((r) => setTimeout(r, 2000));
}
const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox'] });
const page = await browser.newPage({ viewport: { width: 1500, height: 1700 } });
let t = Date.now();
await page.goto(url);
await page.waitForFunction(() => document.body.dataset.loaded, null, { timeout: 120000 });
console.log(`page drawn in ${Date.now() - t} ms`);
const lo = Number(await page.$eval('#step-slider', (s) => s.min)), hi = Number(await page.$eval('#step-slider', (s) => s.max));
const times = [];
for (const f of [0.25, 0.6, 0.85, 0.1]) {
  const want = Math.round(lo + (hi - lo) * f);
  const before = await page.textContent('#step-label');
  t = Date.now();
  await page.$eval('#step-slider', (s, v) => { s.value = v; s.dispatchEvent(new Event('input')); }, want);
  await page.waitForFunction((b) => document.getElementById('step-label').textContent !== b, before, { timeout: 30000 });
  times.push(Date.now() - t);
}
console.log(`slider move to heatmaps + health redrawn: ${times.join(', ')} ms`);
await browser.close();
