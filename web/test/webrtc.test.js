// The clicked link goes direct: the receive page in real headless Chromium and the CLI sender
// open a WebRTC data channel (the page's RTCPeerConnection, the CLI's libnice + OpenSSL DTLS +
// usrsctp, net/webrtc.hpp), signalled through the sealed mailbox, and the bytes skip the relay:
// the server's own counter (ferry_relay_bytes_total) says how many crossed it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { spawn } from 'node:child_process';

import { FERRY, downloadPage, exited, startBrowserFixture, startSend } from './helpers.js';

const MB = 1024 * 1024;
let serverUrl;
let browser;
let tmp;
let fixture;

before(async () => {
  fixture = await startBrowserFixture('ferry-webrtc-',
    // Everything runs on this machine's loopback: Chromium leaves loopback out of WebRTC unless told.
    ['--allow-loopback-in-peer-connection']);
  ({ serverUrl, browser, tmp } = fixture);
});

after(async () => {
  if (fixture) await fixture.stop();
});

async function relayedBytes() {
  const text = await (await fetch(serverUrl + '/metrics')).text();
  const m = text.match(/^ferry_relay_bytes_total (\d+)/m);
  return m ? Number(m[1]) : 0;
}

const newPage = (init) => downloadPage(browser, init);

// (An init script:) the page's data channel opens 2.5 s late.
function lateChannel() {
  const setRemote = RTCPeerConnection.prototype.setRemoteDescription;
  RTCPeerConnection.prototype.setRemoteDescription = function (...args) {
    return new Promise((r) => setTimeout(r, 2500)).then(() => setRemote.apply(this, args));
  };
}

// The CLI's --json events as they come: events.list, and events.until(pred) -> the first match.
function jsonEvents(proc) {
  const list = [];
  const waiters = [];
  let rest = '';
  proc.stdout.on('data', (b) => {
    rest += b.toString();
    const parts = rest.split('\n');
    rest = parts.pop();
    for (const line of parts) {
      if (!line.trim()) continue;
      const e = JSON.parse(line);
      list.push(e);
      for (const w of waiters.splice(0)) (w.pred(e) ? w.resolve(e) : waiters.push(w));
    }
  });
  return {
    list,
    until: (pred) => {
      const found = list.find(pred);
      return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ pred, resolve }));
    },
  };
}

async function receiveDownload(page, link, { beforeSave } = {}) {
  await page.goto(link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  if (beforeSave) await beforeSave();
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  const saved = path.join(tmp, 'saved-' + crypto.randomBytes(4).toString('hex'));
  await download.saveAs(saved);
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /every file was verified/);
  return saved;
}

test('the page receives 50 MB from the CLI over a WebRTC data channel; the relay carries only the offer', { timeout: 60000 }, async () => {
  const src = path.join(tmp, 'video.bin');
  fs.writeFileSync(src, crypto.randomBytes(50 * MB));
  const before = await relayedBytes();
  const { proc, code } = await startSend(serverUrl, [src]);
  const events = jsonEvents(proc);
  const page = await newPage();
  // The person reads the offer; meanwhile the data channel opens (the page says so).
  const saved = await receiveDownload(page, code.link, {
    beforeSave: () => page.waitForSelector('#path[data-path^="direct"]', { timeout: 20000 }),
  });
  assert.equal(await page.getAttribute('#path', 'data-path'), 'direct', await page.textContent('#path'));
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(src)), 'the saved bytes differ');
  const moved = events.list.find((e) => e.event === 'connected' && e.path === 'direct');
  assert.equal(moved && moved.transport, 'webrtc', JSON.stringify(events.list.filter((e) => e.event === 'connected')));
  const relayed = (await relayedBytes()) - before;
  console.log('# relayed bytes for 50 MB:', relayed);
  assert.ok(relayed < 64 * 1024, `${relayed} bytes crossed the relay`);
  await page.context().close();
});

test('a transfer that started on the relay moves onto the data channel without losing or repeating a byte', { timeout: 60000 }, async () => {
  const first = crypto.randomBytes(6 * MB + 5);
  const rest = crypto.randomBytes(24 * MB + 3);
  const before = await relayedBytes();
  const proc = spawn(FERRY, ['send', '--json', '--server', serverUrl, '--name', 'moving.bin', '-'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const events = jsonEvents(proc);
  const code = await events.until((e) => e.event === 'code');
  // The channel opens 2.5 s late, past the page's hold for it: the relay carries the first bytes.
  const page = await newPage(lateChannel);
  const saving = receiveDownload(page, code.link, {
    // Saved at once: the first bytes take the relay while the data channel is still opening.
    beforeSave: () => proc.stdin.write(first),
  });
  // The first part crosses the relay (the server's counter says so)…
  while ((await relayedBytes()) - before < first.length) await new Promise((r) => setTimeout(r, 50));
  // The sender moves between records: the rest comes once the channel is open.
  await page.waitForSelector('#path[data-path^="direct"]', { timeout: 20000 });
  proc.stdin.end(rest);
  await events.until((e) => e.event === 'connected' && e.moved && e.transport === 'webrtc');
  const saved = await saving;
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(Buffer.concat([first, rest])), 'the saved bytes differ');
  assert.equal(await page.getAttribute('#path', 'data-path'), 'direct');
  const relayed = (await relayedBytes()) - before;
  assert.ok(relayed >= first.length && relayed < first.length + 2 * MB, `${relayed} bytes crossed the relay`);
  await page.context().close();
});

// A server (or anyone between the pages and the CLI) that swapped a fingerprint in transit would
// have to forge the sealed mailbox; here the page itself names a certificate that is not its own,
// and the CLI refuses the channel that presents another: the relay carries the bytes.
test('a data channel whose certificate is not the one the sealed offer named is refused', { timeout: 60000 }, async () => {
  const src = path.join(tmp, 'pinned.bin');
  fs.writeFileSync(src, crypto.randomBytes(3 * MB));
  const { proc, code } = await startSend(serverUrl, [src]);
  const events = jsonEvents(proc);
  const page = await newPage(() => {
    const real = Object.getOwnPropertyDescriptor(RTCPeerConnection.prototype, 'localDescription');
    Object.defineProperty(RTCPeerConnection.prototype, 'localDescription', {
      get() {
        const d = real.get.call(this);
        return d && { type: d.type, sdp: d.sdp.replace(/a=fingerprint:sha-256 [0-9A-F:]+/, 'a=fingerprint:sha-256 ' + Array(32).fill('AB').join(':')) };
      },
    });
  });
  // Long enough for the channel to have opened had the CLI not refused it (the first test's
  // opens well within this).
  const saved = await receiveDownload(page, code.link, { beforeSave: () => new Promise((r) => setTimeout(r, 4000)) });
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(src)), 'the saved bytes differ');
  assert.equal(await page.getAttribute('#path', 'data-path'), 'relay');
  assert.ok(!events.list.some((e) => e.event === 'connected' && e.path === 'direct'), 'a direct path opened');
  await page.context().close();
});

// The send page races the same way: it offers a data channel to a CLI receiver (which answers),
// and the relay carries the bytes only until the channel opens.
async function sendFromPage(page, src) {
  await page.goto(serverUrl + '/');
  await page.setInputFiles('#files', src);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  return (await page.textContent('#command')).split(' ').pop();
}

async function cliReceive(code) {
  const out = fs.mkdtempSync(path.join(tmp, 'cli-out-'));
  const proc = spawn(FERRY, ['receive', '--yes', '--json', '--server', serverUrl, '--output', out, code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return { proc, out, events: jsonEvents(proc) };
}

test('the send page sends 50 MB to the CLI over a WebRTC data channel', { timeout: 60000 }, async () => {
  const src = path.join(tmp, 'from-page.bin');
  fs.writeFileSync(src, crypto.randomBytes(50 * MB + 7));
  const before = await relayedBytes();
  const page = await newPage();
  const code = await sendFromPage(page, src);
  const { proc, out, events } = await cliReceive(code);
  assert.equal(await exited(proc), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(path.join(out, 'from-page.bin')).equals(fs.readFileSync(src)), 'the received bytes differ');
  const direct = events.list.find((e) => e.event === 'connected' && e.path === 'direct');
  assert.equal(direct && direct.transport, 'webrtc', JSON.stringify(events.list.filter((e) => e.event !== 'progress')));
  assert.equal(await page.getAttribute('#path', 'data-path'), 'direct', await page.textContent('#path'));
  const relayed = (await relayedBytes()) - before;
  console.log('# relayed bytes for 50 MB from the page:', relayed);
  assert.ok(relayed < 64 * 1024, `${relayed} bytes crossed the relay`);
  await page.context().close();
});

test('a send that started on the relay moves onto the data channel when it opens', { timeout: 60000 }, async () => {
  const src = path.join(tmp, 'from-page-moving.bin');
  fs.writeFileSync(src, crypto.randomBytes(30 * MB + 11));
  const before = await relayedBytes();
  // The channel opens 2.5 s late (past the sender's hold), and the file is read slowly until the
  // page says the bytes go direct: the first part crosses the relay, the rest the channel.
  const page = await newPage(() => {
    const read = Blob.prototype.arrayBuffer;
    Blob.prototype.arrayBuffer = function () {
      const p = document.querySelector('#path');
      if (p && p.dataset.path === 'direct') return read.call(this);
      return new Promise((r) => setTimeout(r, 40)).then(() => read.call(this));
    };
  });
  await page.context().addInitScript(lateChannel);
  const code = await sendFromPage(page, src);
  const { proc, out, events } = await cliReceive(code);
  assert.equal(await exited(proc), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(path.join(out, 'from-page-moving.bin')).equals(fs.readFileSync(src)), 'the received bytes differ');
  const connected = events.list.filter((e) => e.event === 'connected');
  assert.deepEqual(connected.map((e) => [e.path, e.moved]), [['relay', false], ['direct', true]], JSON.stringify(connected));
  assert.match(await page.textContent('#path'), /Moved to a direct path/);
  const relayed = (await relayedBytes()) - before;
  assert.ok(relayed > 1 * MB && relayed < 29 * MB, `${relayed} bytes crossed the relay`);
  await page.context().close();
});

test('a send page and a receive page meet over a data channel: page to page, the relay carries none of the file', { timeout: 60000 }, async () => {
  const src = path.join(tmp, 'page-to-page.bin');
  fs.writeFileSync(src, crypto.randomBytes(30 * MB + 5));
  const before = await relayedBytes();
  const sender = await newPage();
  await sendFromPage(sender, src);
  const link = await sender.getAttribute('#link', 'href');
  const receiver = await newPage();
  const saved = await receiveDownload(receiver, link, {
    beforeSave: () => receiver.waitForSelector('#path[data-path^="direct"]', { timeout: 20000 }),
  });
  await sender.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(src)), 'the saved bytes differ');
  assert.equal(await receiver.getAttribute('#path', 'data-path'), 'direct', await receiver.textContent('#path'));
  assert.equal(await sender.getAttribute('#path', 'data-path'), 'direct', await sender.textContent('#path'));
  const relayed = (await relayedBytes()) - before;
  console.log('# relayed bytes for 30 MB page to page:', relayed);
  assert.ok(relayed < 64 * 1024, `${relayed} bytes crossed the relay`);
  await sender.context().close();
  await receiver.context().close();
});
