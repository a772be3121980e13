// screenshot.mjs: screenshots of `moescope dashboard` for the issue-29 runs (README, "The seed's
// collapse, reproduced"): one PNG per run name, each opened as #run=NAME under LOGDIR.
//   MOESCOPE_BINARY=build/moescope node bench/seed/screenshot.mjs LOGDIR OUT_DIR NAME [NAME ...]
import { join } from 'node:path';
import { launchBrowser, startDashboard } from '../../tests/web/helpers.mjs';

const [logdir, out, ...names] = process.argv.slice(2);
if (!logdir || !out || names.length === 0) {
  console.error('usage: node bench/seed/screenshot.mjs LOGDIR OUT_DIR NAME [NAME ...]');
  process.exit(2);
}
const server = await startDashboard(logdir);
const browser = await launchBrowser();
try {
  for (const name of names) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1850 } });
    await page.goto(server.url + '#run=' + encodeURIComponent(name));
    await page.waitForSelector('#heatmap-load canvas', { timeout: 20000 });
    await page.waitForTimeout(1500);
    const file = join(out, name.replace(/[^A-Za-z0-9_.-]/g, '_') + '.png');
    await page.screenshot({ path: file, fullPage: false });
    console.log(file);
    await page.close();
  }
} finally {
  await browser.close();
  server.stop();
}
