// A page whose connection breaks mid-transfer gets back to its sender by itself and continues where
// the bytes stopped, into the same download: real headless Chromium, the real CLI sender and
// server, and a TCP forwarder between the page and the server that cuts every connection once a
// given number of bytes went through it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import { exited, lines, startBrowserFixture, startSend } from './helpers.js';

const MB = 1024 * 1024;
let serverUrl;
let browser;
let tmp;
let fixture;

before(async () => {
  fixture = await startBrowserFixture('ferry-comeback-');
  ({ serverUrl, browser, tmp } = fixture);
});

after(async () => {
  if (fixture) await fixture.stop();
});

// A TCP forwarder to the server: { url, down() (bytes server -> page so far), cutAfter(n) (once
// n bytes went down, every connection is cut; it still takes new ones), close() }.
async function forwarder(target) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  let down = 0;
  let cutAt = Infinity;
  const cut = () => {
    for (const s of sockets) s.destroy();
    sockets.clear();
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(port), hostname);
    sockets.add(client);
    sockets.add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.on('data', (b) => {
      down += b.length;
      if (down >= cutAt) {
        cutAt = Infinity;
        return cut();
      }
      if (!client.write(b)) {
        upstream.pause();
        client.once('drain', () => upstream.resume());
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: 'http://127.0.0.1:' + server.address().port,
    down: () => down,
    cutAfter: (n) => (cutAt = n),
    close: () => {
      cut();
      server.close();
    },
  };
}

// A page with neither WebRTC (the relay carries every byte, through the forwarder) nor the File
// System Access API (a streamed download: no part file the page could read back).
async function relayOnlyPage() {
  const context = await browser.newContext({ acceptDownloads: true });
  await context.addInitScript(() => {
    delete window.RTCPeerConnection;
    delete Window.prototype.showSaveFilePicker;
    delete Window.prototype.showDirectoryPicker;
    delete window.showSaveFilePicker;
    delete window.showDirectoryPicker;
  });
  return context.newPage();
}

test('a page cut off mid-transfer reconnects and continues the same download from where it stopped', async () => {
  const dir = path.join(tmp, 'album');
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'a.bin'), crypto.randomBytes(24 * MB));
  fs.writeFileSync(path.join(dir, 'b.bin'), crypto.randomBytes(24 * MB + 5));
  const { proc, code } = await startSend(serverUrl, [dir]);
  const events = [];
  const next = lines(proc);
  (async () => {
    for (let l = await next(); l !== undefined; l = await next()) events.push(JSON.parse(l));
  })().catch(() => {});
  const fwd = await forwarder(serverUrl);
  try {
    // Cut in the middle of b.bin: a.bin is whole, b.bin half there.
    fwd.cutAfter(36 * MB);
    const page = await relayOnlyPage();
    await page.goto(fwd.url + '/r#' + code.link.split('#')[1]);
    await page.click('#receive:not([disabled])');
    await page.waitForSelector('#offer:not([hidden])');
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    const zip = path.join(tmp, 'album.zip');
    await download.saveAs(zip).catch(async (e) => {
      throw new Error(e.message + '; the page says: ' + await page.textContent('body'));
    });
    await page.waitForSelector('#done:not([hidden])');
    assert.match(await page.textContent('#done-text'), /every file was verified/);
    assert.equal(await exited(proc), 0);
    const out = path.join(tmp, 'unzipped');
    execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2])', zip, out]);
    for (const name of ['a.bin', 'b.bin']) {
      assert.ok(fs.readFileSync(path.join(out, 'album', name)).equals(fs.readFileSync(path.join(dir, name))), name + ' differs');
    }
    // It broke off, and the bytes went on from where they stopped: had the transfer started over,
    // the 36 MB before the cut would have come twice.
    assert.ok(events.some((e) => e.event === 'note' && /taking the code back/.test(e.text)), JSON.stringify(events));
    assert.ok(events.some((e) => e.event === 'note' && /receiver is back/.test(e.text)), JSON.stringify(events));
    assert.ok(fwd.down() < 56 * MB, 'the page took ' + fwd.down() + ' bytes for 48 MB');
    await page.context().close();
  } finally {
    fwd.close();
    proc.kill();
  }
});
