// python_run.test.mjs: the dashboard serves a run written by the Python package (moescope.watch
// on a tiny transformers qwen3_moe trained with Trainer and MoescopeCallback, python/): the run
// loads in the browser with its charts and a heatmap of one row per MoE layer and one column per
// expert. The screenshot is the README's (MOESCOPE_UPDATE_DOCS=1 copies it to docs/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, launchBrowser, root, startDashboard } from './helpers.mjs';

const python = process.env.MOESCOPE_PYTHON;
let dir, server, browser, page;

const script = `
import sys, torch
sys.path.insert(0, ${JSON.stringify(join(root, 'python/tests'))})
from conftest import tiny_qwen3_moe
from transformers import Trainer, TrainingArguments
from moescope.integrations.transformers import MoescopeCallback
model = tiny_qwen3_moe(layers=3)
data = [{"input_ids": x, "labels": x} for x in torch.randint(0, 64, (160, 16), generator=torch.Generator().manual_seed(0))]
args = TrainingArguments(output_dir=sys.argv[1] + "/hf", max_steps=40, per_device_train_batch_size=4, logging_steps=10,
                         report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True)
Trainer(model=model, args=args, train_dataset=data, callbacks=[MoescopeCallback(sys.argv[1] + "/logs/qwen3-moe", log_every=2, coact_every=1)]).train()
`;

before(async () => {
  if (!python) return;
  dir = mkdtempSync(join(tmpdir(), 'moescope-pyrun-'));
  const r = spawnSync(python, ['-c', script, dir], { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: '1' } });
  assert.equal(r.status, 0, r.stderr);
  server = await startDashboard(join(dir, 'logs'));
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1500, height: 1700 } });
  await page.goto(server.url + '#run=qwen3-moe');
  await page.waitForSelector('#heatmap-load canvas', { timeout: 15000 });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a run written by the Python package loads in the dashboard', { skip: !python && 'MOESCOPE_PYTHON not set' }, async () => {
  assert.equal(await page.$eval('#run-select', (s) => s.value), 'qwen3-moe');
  assert.equal(await page.textContent('#last-step'), '40');
  const titles = await page.$$eval('.uplot', (els) => els.map((e) => e.dataset.title));
  for (const t of ['load entropy (normalised)', 'MaxVio (batch)'])
    assert.ok(titles.includes(t), `chart "${t}" missing from ${titles}`);
  const dims = await page.$eval('#heatmap-load canvas', (c) => [Number(c.dataset.rows), Number(c.dataset.cols)]);
  assert.deepEqual(dims, [3, 8]);
  await page.screenshot({ path: join(artifacts, 'watch_dashboard.png'), fullPage: false });
  if (process.env.MOESCOPE_UPDATE_DOCS) copyFileSync(join(artifacts, 'watch_dashboard.png'), join(root, 'docs/watch_dashboard.png'));
});
