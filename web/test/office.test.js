// The clicked link behind the office proxy that reads everything: Debian's squid-openssl
// intercepting TLS (ssl_bump bump all, otherwise its defaults: it removes WebSocket upgrades),
// Chromium set up the way an administrator sets it up (the proxy, the company CA in its NSS
// store), the CLI sender behind the same proxy, the server on TLS. The page's WebSockets cannot
// open; it carries them over HTTPS requests (tunnel_socket.js) and gets the bytes intact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { FERRY, exited, lines, startServer } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SQUID = '/usr/sbin/squid';
const CERTGEN = '/usr/lib/squid/security_file_certgen';
const CERTUTIL = '/usr/bin/certutil';

let tmp;
let server;
let serverPort;
let squid;
let squidPort;
let browser;
let ca;

const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (r.status !== 0) throw new Error(cmd + ' ' + args.join(' ') + ': ' + r.stderr);
};

async function freePort() {
  const s = net.createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

async function listening(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((r) => {
      const c = net.connect(port, '127.0.0.1', () => (c.destroy(), r(true)));
      c.on('error', () => r(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('nothing listens on ' + port);
}

before(async () => {
  for (const p of [CHROMIUM, SQUID, CERTGEN, CERTUTIL]) {
    if (!fs.existsSync(p)) {
      if (process.env.CI) throw new Error(p + ' is missing (scripts/setup.sh installs it)');
      console.log('# skipped: no ' + p + ' (outside CI)');
      process.exit(0);
    }
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'ferry-office-'));
  fs.chmodSync(tmp, 0o755); // squid runs as the proxy user
  ca = path.join(tmp, 'company-ca.pem');
  const caKey = path.join(tmp, 'company-ca.key');
  run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj',
    '/CN=Example Corp Inspection CA/O=Example Corp', '-keyout', caKey, '-out', ca]);
  const cert = path.join(tmp, 'server.pem');
  const key = path.join(tmp, 'server.key');
  run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost', '-keyout', key, '-out', cert]);
  for (const f of [ca, caKey, cert]) fs.chmodSync(f, 0o644);
  const state = path.join(tmp, 'squid'); // its certificate database, logs and pid file
  fs.mkdirSync(state);
  const db = path.join(state, 'ssl_db');
  run(CERTGEN, ['-c', '-s', db, '-M', '4MB']);
  squidPort = await freePort();
  const conf = path.join(tmp, 'squid.conf');
  fs.writeFileSync(conf, [
    `http_port 127.0.0.1:${squidPort} ssl-bump tls-cert=${ca} tls-key=${caKey} generate-host-certificates=on dynamic_cert_mem_cache_size=4MB`,
    `sslcrtd_program ${CERTGEN} -s ${db} -M 4MB`, 'sslcrtd_children 3 startup=1 idle=1', 'ssl_bump bump all',
    // Only the lab's server: Chromium's own calls home go nowhere (no name is even looked up).
    'acl lab dstdomain -n localhost 127.0.0.1', 'http_access allow lab', 'http_access deny all',
    `tls_outgoing_options cafile=${cert}`, 'cache deny all',
    `pid_filename ${state}/squid.pid`, `cache_log ${state}/cache.log`, `access_log ${state}/access.log`,
    `coredump_dir ${state}`, 'netdb_filename none', 'shutdown_lifetime 1 seconds',
    ...(process.getuid() === 0 ? ['cache_effective_user proxy'] : []), ''].join('\n'));
  if (process.getuid() === 0) run('chown', ['-R', 'proxy:proxy', state]);
  squid = spawn(SQUID, ['-N', '-f', conf], { stdio: 'ignore' });
  await listening(squidPort);
  // An office behind one address: squid opens a server connection for every upload.
  let publicUrl;
  ({ proc: server, url: publicUrl } = await startServer(['--tls-cert', cert, '--tls-key', key,
    '--connects-per-second-per-address', '200']));
  serverPort = Number(new URL(publicUrl).port);
  // The company's CA in Chromium's NSS store, as an administrator installs it.
  const home = path.join(tmp, 'home');
  const nssdb = path.join(home, '.pki', 'nssdb');
  fs.mkdirSync(nssdb, { recursive: true });
  run(CERTUTIL, ['-N', '-d', 'sql:' + nssdb, '--empty-password']);
  run(CERTUTIL, ['-A', '-d', 'sql:' + nssdb, '-n', 'Example Corp', '-t', 'C,,', '-i', ca]);
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
    proxy: { server: 'http://127.0.0.1:' + squidPort, bypass: '<-loopback>' },
    env: { ...process.env, HOME: home },
  });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill();
  if (squid) {
    squid.kill('SIGINT');
    await exited(squid);
  }
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

test('the page receives a file from the CLI through squid intercepting TLS, over HTTPS requests', async () => {
  const url = 'https://localhost:' + serverPort;
  const src = path.join(tmp, 'report.bin');
  const data = crypto.randomBytes(5 * 1024 * 1024 + 3);
  fs.writeFileSync(src, data);
  const sender = spawn(FERRY, ['send', '--json', '--server', url, src], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, https_proxy: 'http://127.0.0.1:' + squidPort, SSL_CERT_FILE: ca },
  });
  const next = lines(sender);
  let code;
  do code = JSON.parse(await next()); while (code.event === 'note'); // the proxy removed the upgrade
  assert.equal(code.event, 'code');
  // The File System Access API, its picker handing out a folder of the origin's private file
  // system (no test can click a native dialog); the writing itself is the real API.
  const context = await browser.newContext();
  await context.addInitScript(() => {
    window.showSaveFilePicker = async ({ suggestedName }) =>
      (await (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true }))
        .getFileHandle(suggestedName, { create: true });
  });
  const page = await context.newPage();
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])', { timeout: 30000 });
  await page.click('#save');
  let said = '';
  sender.stderr.on('data', (d) => (said += d));
  await page.waitForSelector('#done:not([hidden])', { timeout: 60000 });
  assert.equal(await exited(sender), 0, said);
  const saved = await page.evaluate(async () => {
    const dir = await (await navigator.storage.getDirectory()).getDirectoryHandle('picked');
    const bytes = await (await (await dir.getFileHandle('report.bin')).getFile()).arrayBuffer();
    const digest = await crypto.subtle.digest('SHA-256', bytes);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
  });
  assert.equal(saved, crypto.createHash('sha256').update(data).digest('hex'));
  // Squid read it all: the page and the CLI came through as tunnel requests, never a WebSocket.
  const log = fs.readFileSync(path.join(tmp, 'squid', 'access.log'), 'utf8');
  assert.match(log, /POST https:\/\/localhost:\d+\/v1\/tunnel /);
  assert.doesNotMatch(log, /TCP_MISS\/101/);
  await context.close();
});
