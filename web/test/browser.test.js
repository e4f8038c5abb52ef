// The receive page in real headless Chromium (Debian's, driven by playwright-core): the CLI sends,
// the page receives through the relay and the browser saves a streamed download. With
// FERRY_SCREENSHOTS=DIR it also saves a screenshot of each page state there (docs/screenshots).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { FERRY, exited, startBrowserFixture, startSend } from './helpers.js';
import { hostileSender, records, sendOffer } from './hostile.js';

const SHOTS = process.env.FERRY_SCREENSHOTS;
const MB = 1024 * 1024;
let serverUrl;
let browser;
let tmp;
let fixture;

before(async () => {
  fixture = await startBrowserFixture('ferry-browser-');
  ({ serverUrl, browser, tmp } = fixture);
});

after(async () => {
  if (fixture) await fixture.stop();
});


// A page in a browser without the File System Access API (Firefox, Safari, phones): the bytes
// leave as a streamed download. With pickers: the API stays, but its pickers (native dialogs no
// test can click) hand out folders of the origin's private file system, where the test then
// reads what the page wrote; the writing itself is the real API. window.__picks lists what the
// next picks do: 'cancel', or a folder name (default 'picked').
async function newPage({ pickers = false } = {}) {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 480, height: 720 } });
  await context.addInitScript(pickers ? () => {
    window.__picks = [];
    const folder = async () => {
      const what = window.__picks.shift() || 'picked';
      if (what === 'cancel') throw new DOMException('The user aborted a request.', 'AbortError');
      return (await navigator.storage.getDirectory()).getDirectoryHandle(what, { create: true });
    };
    window.showDirectoryPicker = () => folder();
    window.showSaveFilePicker = async ({ suggestedName }) => {
      window.__suggested = suggestedName;
      return (await folder()).getFileHandle(suggestedName, { create: true });
    };
  } : () => {
    delete Window.prototype.showSaveFilePicker;
    delete Window.prototype.showDirectoryPicker;
    delete window.showSaveFilePicker;
    delete window.showDirectoryPicker;
  });
  return context.newPage();
}

// Every file under the private file system's folder `name`: { 'a/b.bin': sha256 hex }.
function privateFiles(page, name) {
  return page.evaluate(async (top) => {
    const out = {};
    const walk = async (dir, prefix) => {
      for await (const [n, h] of dir.entries()) {
        if (h.kind === 'directory') {
          out[prefix + n + '/'] = 'dir';
          await walk(h, prefix + n + '/');
        } else {
          const digest = await crypto.subtle.digest('SHA-256', await (await h.getFile()).arrayBuffer());
          out[prefix + n] = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
        }
      }
    };
    await walk(await (await navigator.storage.getDirectory()).getDirectoryHandle(top), '');
    return out;
  }, name);
}

const sha256 = (bytes) => crypto.createHash('sha256').update(bytes).digest('hex');

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: path.join(SHOTS, name + '.png') });
}

test('the CLI sends 100 MB, the page receives it intact; a preview fetch first does not use the link', async () => {
  const src = path.join(tmp, 'video.bin');
  fs.writeFileSync(src, crypto.randomBytes(100 * MB));
  const { proc, code } = await startSend(serverUrl, [src]);
  // What a chat app's preview bot does: fetch the URL (the fragment never leaves the browser).
  const preview = await fetch(code.link.split('#')[0]);
  assert.equal(preview.status, 200);
  assert.match(preview.headers.get('content-security-policy'), /default-src 'self'/);

  const page = await newPage();
  await page.goto(code.link);
  await page.waitForSelector('#receive:not([disabled])');
  await shot(page, 'receive-start');
  await page.click('#receive');
  await page.waitForSelector('#offer:not([hidden])');
  assert.match(await page.textContent('#offer-summary'), /1 file \(104\.9 MB\)/);
  await shot(page, 'receive-offer');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  await page.waitForSelector('#progress:not([hidden])');
  await shot(page, 'receive-progress');
  assert.equal(download.suggestedFilename(), 'video.bin');
  const saved = path.join(tmp, 'saved-video.bin');
  await download.saveAs(saved);
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /every file was verified/);
  await shot(page, 'receive-done');
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(fs.readFileSync(src)), 'the saved bytes differ');
  await page.context().close();
});

test('a stream (ferry send - from a pipe) arrives through the page: size unknown until its end', async () => {
  const data = crypto.randomBytes(5 * MB + 11);
  const proc = spawn(FERRY, ['send', '--json', '--server', serverUrl, '--name', 'piped.bin', '-'], { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin.end(data);
  const code = JSON.parse(await new Promise((resolve) => proc.stdout.once('data', (b) => resolve(b.toString().split('\n')[0]))));
  const page = await newPage();
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  assert.match(await page.textContent('#offer-list'), /piped\.bin \(streamed, size unknown\)/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  const saved = path.join(tmp, 'saved-piped.bin');
  await download.saveAs(saved);
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /\(5\.2 MB\).*every file was verified/);
  assert.equal(await exited(proc), 0);
  assert.ok(fs.readFileSync(saved).equals(data), 'the saved bytes differ');
  await page.context().close();
});

test('a folder arrives as one ZIP with its layout intact', async () => {
  const dir = path.join(tmp, 'album');
  fs.mkdirSync(path.join(dir, 'sub', 'empty-dir'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'a.bin'), crypto.randomBytes(3 * MB + 7));
  fs.writeFileSync(path.join(dir, 'sub', 'b.txt'), 'hello\n');
  fs.writeFileSync(path.join(dir, 'sub', 'zero'), '');
  const { proc, code } = await startSend(serverUrl, [dir]);
  const page = await newPage();
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
  const zip = path.join(tmp, 'album.zip');
  await download.saveAs(zip);
  await page.waitForSelector('#done:not([hidden])');
  assert.equal(await exited(proc), 0);
  const out = path.join(tmp, 'unzipped');
  execFileSync('python3', ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; z.extractall(sys.argv[2])', zip, out]);
  assert.ok(fs.readFileSync(path.join(out, 'album', 'a.bin')).equals(fs.readFileSync(path.join(dir, 'a.bin'))));
  assert.equal(fs.readFileSync(path.join(out, 'album', 'sub', 'b.txt'), 'utf8'), 'hello\n');
  assert.equal(fs.readFileSync(path.join(out, 'album', 'sub', 'zero')).length, 0);
  assert.ok(fs.statSync(path.join(out, 'album', 'sub', 'empty-dir')).isDirectory());
  await page.context().close();
});

test('the page without a link asks for the code, completes its words and receives a text', async () => {
  const { proc, code } = await startSend(serverUrl, ['--text', 'meet at the station, 6 pm']);
  const [base] = code.link.split('#');
  const [number, first, second] = code.code.split('-');
  const page = await newPage();
  await page.goto(base);
  await page.waitForSelector('#enter:not([hidden])');
  // A word that is on no list is refused on the spot, and the code stays good.
  await page.fill('#code-input', `${number} zzzz ${second}`);
  await page.click('#code-go');
  assert.match(await page.textContent('#code-error'), /not one of ferry's code words/);
  // Spaces, capitals and a prefix of the first word, as a person types it after hearing it.
  const { WORDS } = await import('../src/wordlist.js');
  let prefix = first;
  for (let n = 3; n < first.length; n++) {
    if (WORDS.filter((w) => w.startsWith(first.slice(0, n))).length === 1) {
      prefix = first.slice(0, n);
      break;
    }
  }
  await page.fill('#code-input', `${number} ${prefix.toUpperCase()} ${second}`);
  await page.click('#code-go');
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#done:not([hidden])');
  assert.equal(await page.textContent('#message'), 'meet at the station, 6 pm');
  assert.equal(await exited(proc), 0);
  await page.context().close();
});

test('a wrong secret fails on the page and at the sender, and nothing is saved', async () => {
  const src = path.join(tmp, 'secret.bin');
  fs.writeFileSync(src, 'secret');
  const { proc, code } = await startSend(serverUrl, [src]);
  const [base, fragment] = code.link.split('#');
  const nameplate = fragment.split('-')[0];
  const wrong = base + '#' + nameplate + '-' + Buffer.from(crypto.randomBytes(16)).toString('base64url');
  const page = await newPage();
  let downloads = 0;
  page.on('download', () => downloads++);
  await page.goto(wrong);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /does not match/);
  await shot(page, 'receive-error');
  assert.equal(await exited(proc), 3);
  assert.equal(downloads, 0);
  // The link is used up: opening it again says so.
  await page.goto(code.link);
  await page.reload();
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /already used or has expired/);
  await page.context().close();
});

// A hostile sender (web/test/hostile.js) against the page in Chromium: a name with a
// right-to-left override is refused and shown escaped; a sender that skips a file gets an error,
// never "every file was verified".
test('the page refuses a hostile name and a skipped file, and shows what the peer sent escaped', async () => {
  const { default: sodium } = await import('libsodium-wrappers-sumo');
  await sodium.ready;
  const run = async (script) => {
    let link = null;
    const sender = hostileSender({ sodium, server: serverUrl, onCode: (c) => { link = c.link; }, script })
      .catch((e) => e);
    while (!link) await new Promise((r) => setTimeout(r, 20));
    const page = await newPage();
    await page.goto(link);
    await page.click('#receive:not([disabled])');
    return { page, sender };
  };

  const named = await run(async ({ pipe }) => {
    sendOffer(pipe, { kind: 'files', entries: [{ path: 'invoice\u202efdp.exe', kind: 'file', size: 3 }] });
    return pipe.readRecord().catch(() => null);
  });
  await named.page.waitForSelector('#error:not([hidden])');
  const detail = await named.page.textContent('#error-detail');
  assert.match(detail, /invoice\\u\{202e\}fdp\.exe/);
  assert.ok(!detail.includes('\u202e'));
  assert.equal(await named.page.isHidden('#offer'), true);
  await named.sender;
  await named.page.context().close();

  const data = new Uint8Array([1, 2, 3]);
  const skipped = await run(async ({ pipe, sodium: s }) => {
    sendOffer(pipe, { kind: 'files', entries: [{ path: 'a.bin', kind: 'file', size: 3 }, { path: 'b.bin', kind: 'file', size: 3 }] });
    await pipe.readRecord();
    pipe.sendRecord(records.chunk(0, 0, data));
    pipe.sendRecord(records.fileEnd(s, 0, data));
    pipe.sendRecord(records.done(), true);
    return pipe.readRecord().catch(() => null);
  });
  await skipped.page.waitForSelector('#offer:not([hidden])');
  skipped.page.on('download', () => {});
  await skipped.page.click('#save');
  await skipped.page.waitForSelector('#error:not([hidden])');
  assert.match(await skipped.page.textContent('#error-detail'), /before sending every file/);
  assert.equal(await skipped.page.isHidden('#done'), true);
  await skipped.sender;
  await skipped.page.context().close();
});

test('the page sends a text message; the CLI prints it', async () => {
  const page = await newPage();
  await page.goto(serverUrl + '/');
  const message = 'the wifi password is hunter2\nsecond line \u00e9';
  await page.fill('#text', message);
  await page.click('#send-text:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  const code = (await page.textContent('#command')).split(' ').pop();
  const r = spawn(FERRY, ['receive', '--yes', '--server', serverUrl, code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let printed = '';
  r.stdout.on('data', (d) => (printed += d));
  assert.equal(await exited(r), 0);
  assert.equal(printed, message + '\n');
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /Text message delivered/);
  await page.context().close();
});

test('the page sends a file and a folder; the CLI receives them intact', async () => {
  const page = await newPage();
  await page.goto(serverUrl + '/');
  await shot(page, 'send-pick');
  const src = path.join(tmp, 'from-browser.bin');
  fs.writeFileSync(src, crypto.randomBytes(20 * MB + 3));
  await page.setInputFiles('#files', src);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  await shot(page, 'send-code');
  const command = await page.textContent('#command');
  assert.ok(command.startsWith('ferry receive --server ' + serverUrl + ' '), command);
  const code = command.split(' ').pop();
  assert.match(code, /^[1-9][0-9]*-[a-z]+-[a-z]+$/);
  const out = path.join(tmp, 'cli-out');
  fs.mkdirSync(out);
  const r = spawn(FERRY, ['receive', '--yes', '--server', serverUrl, '--output', out, code], { stdio: ['ignore', 'ignore', 'inherit'] });
  assert.equal(await exited(r), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /verified every one/);
  assert.ok(fs.readFileSync(path.join(out, 'from-browser.bin')).equals(fs.readFileSync(src)));

  // A folder, by link this time.
  const dir = path.join(tmp, 'pics');
  fs.mkdirSync(path.join(dir, 'inner'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'inner', 'x.bin'), crypto.randomBytes(123457));
  fs.writeFileSync(path.join(dir, 'y.txt'), 'why\n');
  await page.goto(serverUrl + '/');
  await page.setInputFiles('#folder', dir);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  const link = await page.getAttribute('#link', 'href');
  // The QR code on the page decodes (zbarimg, from Debian) to exactly the link.
  const qrPng = path.join(tmp, 'qr.png');
  await page.locator('#qr svg').screenshot({ path: qrPng });
  assert.equal(execFileSync('zbarimg', ['--quiet', '--raw', qrPng], { encoding: 'utf8' }).trim(), link);
  const out2 = path.join(tmp, 'cli-out2');
  fs.mkdirSync(out2);
  const r2 = spawn(FERRY, ['receive', '--yes', '--output', out2, link], { stdio: 'ignore' });
  assert.equal(await exited(r2), 0);
  await page.waitForSelector('#done:not([hidden])');
  assert.ok(fs.readFileSync(path.join(out2, 'pics', 'inner', 'x.bin')).equals(fs.readFileSync(path.join(dir, 'inner', 'x.bin'))));
  assert.equal(fs.readFileSync(path.join(out2, 'pics', 'y.txt'), 'utf8'), 'why\n');
  await page.context().close();
});

test('the page refuses to send a name receivers would refuse, before showing a code', async () => {
  const page = await newPage();
  await page.goto(serverUrl + '/');
  const src = path.join(tmp, 'invoice\u202efdp.exe');
  fs.writeFileSync(src, 'not a pdf');
  await page.setInputFiles('#files', src);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /receivers refuse/);
  const detail = await page.textContent('#error-detail');
  assert.match(detail, /invoice\\u\{202e\}fdp\.exe/);
  assert.ok(!detail.includes('\u202e'), detail);
  assert.ok(await page.isHidden('#code-box'));
  await page.context().close();
});

test('a damaged link and a text message', async () => {
  const page = await newPage();
  await page.goto(serverUrl + '/r#12-short');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /incomplete/);
  const { proc, code } = await startSend(serverUrl, ['--text', 'the door code is 4711']);
  await page.goto(code.link);
  await page.reload();
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#done:not([hidden])');
  assert.equal(await page.textContent('#message'), 'the door code is 4711');
  assert.equal(await exited(proc), 0);
  await page.context().close();
});

test('with the File System Access API the file goes where the person picks; a cancelled pick keeps the offer', async () => {
  const src = path.join(tmp, 'picked.bin');
  const data = crypto.randomBytes(30 * MB + 11);
  fs.writeFileSync(src, data);
  const { proc, code } = await startSend(serverUrl, [src]);
  const page = await newPage({ pickers: true });
  let downloads = 0;
  page.on('download', () => downloads++);
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  assert.match(await page.textContent('#save-note'), /choose where/);
  await page.evaluate(() => window.__picks.push('cancel', 'mine'));
  await page.click('#save');
  // (waitForFunction would need eval, which the page's Content-Security-Policy forbids.)
  while (await page.evaluate(() => window.__picks.length) !== 1) await new Promise((r) => setTimeout(r, 20));
  assert.equal(await page.isVisible('#offer'), true, 'a cancelled pick leaves the offer up');
  await page.click('#save');
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /saved where you chose/);
  assert.equal(await exited(proc), 0);
  assert.equal(await page.evaluate(() => window.__suggested), 'picked.bin');
  assert.deepEqual(await privateFiles(page, 'mine'), { 'picked.bin': sha256(data) });
  assert.equal(downloads, 0);
  await page.context().close();
});

test('with the File System Access API a folder arrives file by file in the picked folder, never over a name there', async () => {
  const dir = path.join(tmp, 'trip');
  fs.mkdirSync(path.join(dir, 'day1', 'empty'), { recursive: true });
  const a = crypto.randomBytes(2 * MB + 5);
  fs.writeFileSync(path.join(dir, 'day1', 'a.bin'), a);
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'sunny\n');
  fs.writeFileSync(path.join(dir, 'zero'), '');
  const { proc, code } = await startSend(serverUrl, [dir]);
  const page = await newPage({ pickers: true });
  await page.goto(code.link);
  // The first folder picked already has a "trip": the page says so and keeps the offer.
  await page.evaluate(async () => {
    const busy = await (await navigator.storage.getDirectory()).getDirectoryHandle('busy', { create: true });
    await (await (await busy.getDirectoryHandle('trip', { create: true })).getFileHandle('keep.txt', { create: true })).createWritable().then(async (w) => {
      await w.write('mine');
      await w.close();
    });
  });
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  assert.match(await page.textContent('#save-note'), /choose a folder/);
  await page.evaluate(() => window.__picks.push('busy', 'fresh'));
  await page.click('#save');
  await page.waitForSelector('#save-note:has-text("is already in the folder you picked")');
  assert.match(await page.textContent('#save-note'), /“trip” is already in the folder you picked/);
  assert.equal(await page.isVisible('#offer'), true);
  await page.click('#save');
  await page.waitForSelector('#done:not([hidden])');
  assert.match(await page.textContent('#done-text'), /in the folder you chose/);
  assert.equal(await exited(proc), 0);
  assert.deepEqual(await privateFiles(page, 'fresh'), {
    'trip/': 'dir',
    'trip/day1/': 'dir',
    'trip/day1/a.bin': sha256(a),
    'trip/day1/empty/': 'dir',
    'trip/notes.txt': sha256('sunny\n'),
    'trip/zero': sha256(''),
  });
  assert.deepEqual(await privateFiles(page, 'busy'), { 'trip/': 'dir', 'trip/keep.txt': sha256('mine') });
  await page.context().close();
});

test('a full disk while saving stops the transfer with a sentence on the page and an error at the sender', async () => {
  const src = path.join(tmp, 'too-big-for-disk.bin');
  fs.writeFileSync(src, crypto.randomBytes(12 * MB));
  const { proc, code } = await startSend(serverUrl, [src]);
  const page = await newPage({ pickers: true });
  await page.goto(code.link);
  // The picked file's disk fills up after 4 MB.
  await page.evaluate(() => {
    window.showSaveFilePicker = async () => ({
      createWritable: async () => {
        let written = 0;
        return new WritableStream({
          write(chunk) {
            written += chunk.byteLength;
            if (written > 4 * 1024 * 1024) throw new DOMException('There is not enough space on the disk.', 'QuotaExceededError');
          },
        });
      },
    });
  });
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  await page.click('#save');
  await page.waitForSelector('#error:not([hidden])');
  assert.match(await page.textContent('#error-text'), /could not save the bytes/);
  assert.match(await page.textContent('#error-detail'), /not enough space/);
  assert.notEqual(await exited(proc), 0);
  await page.context().close();
});
