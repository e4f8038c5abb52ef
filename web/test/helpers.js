// What both web test files need: the real ferry binary, a server, and line-by-line process output.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import assert from 'node:assert/strict';
import path from 'node:path';

export const FERRY = process.env.FERRY_BIN || path.resolve('..', 'build', 'release', 'src', 'cli', 'ferry');

export function lines(proc) {
  const rl = createInterface({ input: proc.stdout });
  const queue = [];
  const waiters = [];
  rl.on('line', (l) => (waiters.length ? waiters.shift()(l) : queue.push(l)));
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiters.push(r)));
}

export const exited = (p) => (p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.on('exit', (c) => r(c))));

// `ferry serve` on a free loopback port, with extra options: { proc, url }.
export async function startServer(extra = []) {
  const proc = spawn(FERRY, ['serve', '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const next = lines(proc);
  await next();
  const url = (await next()).split('public URL:')[1].trim();
  return { proc, url };
}

// `ferry send --json ARGS` against url: { proc, code } once it printed its code.
export async function startSend(url, args) {
  const proc = spawn(FERRY, ['send', '--json', '--server', url, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const code = JSON.parse(await lines(proc)());
  assert.equal(code.event, 'code', JSON.stringify(code));
  return { proc, code };
}

// What a Node test file of the JavaScript core needs: libsodium ready, a server, a temporary
// folder; stop() ends the server and removes the folder.
export async function startFixture(prefix) {
  const { default: sodium } = await import('libsodium-wrappers-sumo');
  await sodium.ready;
  const fs = await import('node:fs');
  const os = await import('node:os');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const { proc, url } = await startServer();
  return {
    sodium, url, tmp,
    stop() {
      proc.kill();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// What a page test file starts with: Debian's Chromium (with chromiumArgs), a server and a
// temporary folder: { serverUrl, browser, tmp, stop() }. Without Chromium the file is skipped
// outside CI and fails in it.
export async function startBrowserFixture(prefix, chromiumArgs = []) {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const chromium = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!fs.existsSync(chromium)) {
    if (process.env.CI) throw new Error('Chromium is missing at ' + chromium + ' (scripts/setup.sh installs it)');
    console.log('# skipped: no Chromium at ' + chromium + ' (outside CI)');
    process.exit(0);
  }
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  const { proc, url } = await startServer();
  const browser = await launchChromium(chromium, chromiumArgs);
  return {
    serverUrl: url, browser, tmp,
    async stop() {
      await browser.close();
      proc.kill();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
}

// Debian's Chromium, headless, as every page test drives it.
export async function launchChromium(executablePath, extraArgs = []) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', ...extraArgs],
  });
}

// A page in a browser without the File System Access API (Firefox, Safari, phones): the bytes
// leave as a streamed download. init: one more script run before the page's own.
export async function downloadPage(browser, init) {
  const context = await browser.newContext({ acceptDownloads: true });
  await context.addInitScript(() => {
    delete Window.prototype.showSaveFilePicker;
    delete Window.prototype.showDirectoryPicker;
    delete window.showSaveFilePicker;
    delete window.showDirectoryPicker;
  });
  if (init) await context.addInitScript(init);
  return context.newPage();
}
