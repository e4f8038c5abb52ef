// The pages of a cluster in real headless Chromium: two `ferry serve --redis` nodes sharing a
// real redis-server, behind a real haproxy (the public URL); each node's relay has its own URL,
// another origin than the page's. The CLI sends, the page receives, and the other way round.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { FERRY, downloadPage, exited, launchChromium, lines, startSend } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const MB = 1024 * 1024;
const procs = [];
let browser;
let tmp;
let publicUrl;
let nodeUrls;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForPort(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const c = net.connect(port, '127.0.0.1', () => { c.destroy(); resolve(true); });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('nothing listens on ' + port);
}

before(async () => {
  for (const need of [CHROMIUM, '/usr/bin/redis-server', '/usr/sbin/haproxy']) {
    if (!fs.existsSync(need)) {
      if (process.env.CI) throw new Error(need + ' is missing (scripts/setup.sh installs it)');
      console.log('# skipped: no ' + need + ' (outside CI)');
      process.exit(0);
    }
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-cluster-'));
  const redisPort = await freePort();
  procs.push(spawn('/usr/bin/redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', tmp], { stdio: 'ignore' }));
  await waitForPort(redisPort);
  const key = path.join(tmp, 'relay.key');
  fs.writeFileSync(key, crypto.randomBytes(32).toString('hex'));
  const lbPort = await freePort();
  publicUrl = 'http://127.0.0.1:' + lbPort;
  const ports = [await freePort(), await freePort()];
  nodeUrls = ports.map((p) => 'http://127.0.0.1:' + p);
  for (const port of ports) {
    const node = spawn(FERRY, ['serve', '--listen', '127.0.0.1:' + port, '--public-url', publicUrl,
      '--relay-url', 'http://127.0.0.1:' + port, '--redis', 'redis://127.0.0.1:' + redisPort,
      '--relay-key-file', key, '--no-stun'], { stdio: ['ignore', 'pipe', 'inherit'] });
    procs.push(node);
    assert.match(await lines(node)(), /listening on/);
  }
  const cfg = path.join(tmp, 'haproxy.cfg');
  fs.writeFileSync(cfg, ['defaults', '  mode tcp', '  timeout connect 2s', '  timeout client 1h',
    '  timeout server 1h', 'frontend ferry', '  bind 127.0.0.1:' + lbPort, '  default_backend nodes',
    'backend nodes', '  balance roundrobin',
    ...ports.map((p, i) => `  server n${i} 127.0.0.1:${p} check inter 200`), ''].join('\n'));
  procs.push(spawn('/usr/sbin/haproxy', ['-db', '-f', cfg], { stdio: 'ignore' }));
  await waitForPort(lbPort);
  for (const url of nodeUrls) {
    for (let i = 0; i < 100 && (await fetch(url + '/healthz').catch(() => null))?.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  browser = await launchChromium(CHROMIUM);
});

after(async () => {
  if (browser) await browser.close();
  for (const p of procs) p.kill('SIGKILL');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

async function newPage() {
  const page = await downloadPage(browser);
  const relays = [];
  page.on('websocket', (ws) => relays.push(ws.url()));
  return { page, relays };
}

test('through the balancer, the page receives from the CLI at its node\'s relay, another origin', async () => {
  const src = path.join(tmp, 'photo.bin');
  fs.writeFileSync(src, crypto.randomBytes(5 * MB + 11));
  const { proc, code } = await startSend(publicUrl, [src]);
  assert.ok(code.link.startsWith(publicUrl + '/r#'), code.link);
  const { page, relays } = await newPage();
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden]), #error:not([hidden])');
  if (await page.isVisible('#error')) assert.fail(await page.textContent('#error-text'));
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  const saved = path.join(tmp, 'saved.bin');
  await download.saveAs(saved);
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /every file was verified/);
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(src)), 'the saved bytes differ');
  // The relay's WebSocket went to a node's own URL, not to the page's origin.
  const relay = relays.find((u) => u.includes('/v1/relay'));
  assert.ok(relay && nodeUrls.some((n) => relay.startsWith(n.replace('http', 'ws'))), relays.join(' '));
  await page.context().close();
});

test('through the balancer, the page sends a file and a folder and the CLI receives them', async () => {
  const { page, relays } = await newPage();
  await page.goto(publicUrl + '/');
  const src = path.join(tmp, 'up.bin');
  fs.writeFileSync(src, crypto.randomBytes(3 * MB + 5));
  await page.setInputFiles('#files', src);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  const code = (await page.textContent('#command')).split(' ').pop();
  const out = path.join(tmp, 'cli-out');
  fs.mkdirSync(out);
  const r = spawn(FERRY, ['receive', '--yes', '--server', publicUrl, '--output', out, code], { stdio: 'ignore' });
  assert.equal(await exited(r), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(path.join(out, 'up.bin')).equals(fs.readFileSync(src)));
  assert.ok(relays.some((u) => nodeUrls.some((n) => u.startsWith(n.replace('http', 'ws') + '/v1/relay'))), relays.join(' '));

  // A folder too, received by link.
  const dir = path.join(tmp, 'album');
  fs.mkdirSync(path.join(dir, 'inner'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'inner', 'x.bin'), crypto.randomBytes(200001));
  fs.writeFileSync(path.join(dir, 'y.txt'), 'why\n');
  await page.goto(publicUrl + '/');
  await page.setInputFiles('#folder', dir);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  const link = await page.getAttribute('#link', 'href');
  assert.ok(link.startsWith(publicUrl + '/r#'), link);
  const out2 = path.join(tmp, 'cli-out2');
  fs.mkdirSync(out2);
  const r2 = spawn(FERRY, ['receive', '--yes', '--output', out2, link], { stdio: 'ignore' });
  assert.equal(await exited(r2), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(path.join(out2, 'album', 'inner', 'x.bin')).equals(fs.readFileSync(path.join(dir, 'inner', 'x.bin'))));
  assert.equal(fs.readFileSync(path.join(out2, 'album', 'y.txt'), 'utf8'), 'why\n');
  await page.context().close();
});
