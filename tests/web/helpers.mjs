// helpers.mjs: shared set-up of the browser tests: the moescope binary, a private copy of the
// fixture runs, a dashboard server on a free port, and Debian's chromium via playwright-core.
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../..');
export const binary = process.env.MOESCOPE_BINARY || join(root, 'build/moescope');
export const artifacts = process.env.MOESCOPE_TEST_ARTIFACTS || join(root, 'build/test-artifacts/web');
mkdirSync(artifacts, { recursive: true });

// A fresh copy of tests/web/fixtures/logs (the tests append to it).
export function fixtureLogdir() {
  const dir = mkdtempSync(join(tmpdir(), 'moescope-web-'));
  cpSync(join(here, 'fixtures/logs'), join(dir, 'logs'), { recursive: true });
  return { dir, logdir: join(dir, 'logs'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export function run(args) {
  return new Promise((res, rej) => {
    const p = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', rej);
    p.on('close', (code) => res({ code, out, err }));
  });
}

// Starts `moescope dashboard` on a free port; resolves to {url, stop, stderr()}.
export function startDashboard(logdir) {
  return new Promise((res, rej) => {
    const p = spawn(binary, ['dashboard', '--logdir', logdir, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    const timer = setTimeout(() => rej(new Error('dashboard did not start: ' + err)), 20000);
    p.stderr.on('data', (d) => (err += d));
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/http:\/\/127\.0\.0\.1:(\d+)\//);
      if (m) {
        clearTimeout(timer);
        res({ url: m[0], stop: () => p.kill('SIGTERM'), stderr: () => err });
      }
    });
    p.on('error', rej);
  });
}

export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
}
