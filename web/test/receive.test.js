// The JavaScript receiver core against the real CLI sender and server (no browser: Node with the
// `ws` WebSocket): files, a directory, text, a wrong code, hostile names.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

import { exited, startFixture, startSend, startServer } from './helpers.js';
import { receive } from '../src/receive.js';
import { parseSecret, safeRelativePath, ProtocolError } from '../src/protocol.js';

let sodium;
let serverUrl;
let tmp;
let stop;

before(async () => ({ sodium, url: serverUrl, tmp, stop } = await startFixture('ferry-web-')));
after(() => stop());


// A sink that writes files under dir (what the page does with the File System Access API).
function diskSink(dir) {
  let fd = null;
  return {
    files: [],
    async begin(entry) {
      const p = path.join(dir, entry.path);
      fs.mkdirSync(path.dirname(p), { recursive: true });
      fd = fs.openSync(p, 'w');
      this.files.push(entry.path);
    },
    async write(bytes) {
      fs.writeSync(fd, bytes);
    },
    async end() {
      fs.closeSync(fd);
      fd = null;
    },
    abandon() {
      if (fd !== null) fs.closeSync(fd);
    },
  };
}

// Both ways the relay's bytes can come: a streamed HTTP response (what the page uses) and the
// relay WebSocket's own messages.
for (const [how, fetchImpl] of [['a streamed HTTP download', globalThis.fetch], ['WebSocket messages', undefined]]) {
  test(`receives a file and a directory from the CLI through the relay as ${how}, intact`, async () => {
    await receiveAlbum(how, fetchImpl);
  });
}

async function receiveAlbum(how, fetchImpl) {
  const src = path.join(tmp, 'src-' + (fetchImpl ? 'fetch' : 'ws'));
  fs.mkdirSync(path.join(src, 'album', 'sub'), { recursive: true });
  const big = crypto.randomBytes(5 * 1024 * 1024 + 123);
  fs.writeFileSync(path.join(src, 'album', 'big.bin'), big);
  fs.writeFileSync(path.join(src, 'album', 'sub', 'note.txt'), 'hello from the CLI\n');
  fs.writeFileSync(path.join(src, 'album', 'empty'), '');
  const { proc, code } = await startSend(serverUrl, [path.join(src, 'album')]);
  const out = path.join(tmp, 'out1-' + (fetchImpl ? 'fetch' : 'ws'));
  const events = [];
  const sink = diskSink(out);
  const result = await receive({
    sodium, WebSocket, fetch: fetchImpl, server: serverUrl, code: code.code, sink,
    decide: async () => true, onEvent: (e) => events.push(e),
  });
  assert.equal(result.declined, false);
  assert.equal(await exited(proc), 0);
  assert.deepEqual(fs.readFileSync(path.join(out, 'album', 'big.bin')), big);
  assert.equal(fs.readFileSync(path.join(out, 'album', 'sub', 'note.txt'), 'utf8'), 'hello from the CLI\n');
  assert.equal(fs.readFileSync(path.join(out, 'album', 'empty')).length, 0);
  assert.ok(events.some((e) => e.event === 'connected' && e.path === 'relay' &&
    e.transport === (fetchImpl ? 'HTTP download' : 'WebSocket')), how);
  assert.ok(events.some((e) => e.event === 'done'));
}

test('receives through a link (the 128-bit secret in the fragment)', async () => {
  const src = path.join(tmp, 'link.bin');
  const data = crypto.randomBytes(300000);
  fs.writeFileSync(src, data);
  const { proc, code } = await startSend(serverUrl, [src]);
  const out = path.join(tmp, 'out2');
  await receive({ sodium, WebSocket, fetch, server: serverUrl, code: code.link, sink: diskSink(out), decide: async () => true });
  assert.equal(await exited(proc), 0);
  assert.deepEqual(fs.readFileSync(path.join(out, 'link.bin')), data);
});

test('several pages receive one link of a group send at once', async () => {
  const src = path.join(tmp, 'group.bin');
  const data = crypto.randomBytes(2 * 1024 * 1024 + 7);
  fs.writeFileSync(src, data);
  const { proc, code } = await startSend(serverUrl, ['--receivers', '3', src]);
  const events = [[], [], []];
  await Promise.all([0, 1, 2].map((i) => receive({
    sodium, WebSocket, fetch, server: serverUrl, code: code.link, sink: diskSink(path.join(tmp, 'group' + i)),
    decide: async () => true, onEvent: (e) => events[i].push(e),
  })));
  assert.equal(await exited(proc), 0);
  for (const i of [0, 1, 2]) assert.deepEqual(fs.readFileSync(path.join(tmp, 'group' + i, 'group.bin')), data);
  // Two of them came while the sender was checking another's code, and waited in line.
  assert.ok(events.some((list) => list.some((e) => e.event === 'queued')));
});

test('text arrives as the offer', async () => {
  const { proc, code } = await startSend(serverUrl, ['--text', 'meet at 6']);
  let offer;
  await receive({ sodium, WebSocket, server: serverUrl, code: code.code, sink: diskSink(tmp), decide: async (o) => { offer = o; return true; } });
  assert.equal(await exited(proc), 0);
  assert.equal(offer.kind, 'text');
  assert.equal(offer.text, 'meet at 6');
});

test('declining tells the sender', async () => {
  const src = path.join(tmp, 'no.bin');
  fs.writeFileSync(src, 'x');
  const { proc, code } = await startSend(serverUrl, [src]);
  const r = await receive({ sodium, WebSocket, server: serverUrl, code: code.code, sink: diskSink(tmp), decide: async () => false });
  assert.equal(r.declined, true);
  assert.equal(await exited(proc), 4);
});

test('a wrong code fails on both sides and nothing is written', async () => {
  const src = path.join(tmp, 'secret.bin');
  fs.writeFileSync(src, 'secret');
  const { proc, code } = await startSend(serverUrl, [src]);
  const nameplate = code.code.split('-')[0];
  const wrong = nameplate + '-' + (code.code.endsWith('-acorn') ? 'zebra-zebra' : 'acorn-acorn');
  const out = path.join(tmp, 'out3');
  await assert.rejects(
    receive({ sodium, WebSocket, server: serverUrl, code: wrong, sink: diskSink(out), decide: async () => true }),
    (e) => e instanceof ProtocolError && e.code === 'wrong_code',
  );
  assert.equal(await exited(proc), 3);
  assert.equal(fs.existsSync(out), false);
});

test('an unknown code is a clear error', async () => {
  await assert.rejects(
    receive({ sodium, WebSocket, server: serverUrl, code: '999999-acorn-zebra', sink: diskSink(tmp), decide: async () => true }),
    (e) => e instanceof ProtocolError && e.code === 'code_unknown',
  );
});

test('codes, links and hostile names are checked before use', () => {
  assert.equal(parseSecret('7-tumbler-oxcart').nameplate, '7');
  assert.equal(parseSecret('http://x/r#12-AAAAAAAAAAAAAAAAAAAAAA').kind, 2);
  assert.throws(() => parseSecret('http://x/r#12-AAAA'), ProtocolError);
  assert.throws(() => parseSecret('tumbler'), ProtocolError);
  for (const bad of ['/etc/passwd', '../x', 'a/../../b', 'a\\b', 'a/./b', '', 'x\u0000y', 'a//b']) {
    assert.equal(safeRelativePath(bad), false, bad);
  }
  assert.equal(safeRelativePath('photos/2024/a.jpg'), true);
});

test("the relay's limit ends a streamed download with the relay's own reason", async () => {
  const limited = await startServer(['--relay-max-bytes', '2M']);
  try {
    const src = path.join(tmp, 'too-big.bin');
    fs.writeFileSync(src, crypto.randomBytes(5 * 1024 * 1024));
    const { proc, code } = await startSend(limited.url, [src]);
    await assert.rejects(
      receive({ sodium, WebSocket, fetch, server: limited.url, code: code.code, sink: diskSink(path.join(tmp, 'limited')), decide: async () => true }),
      (e) => e instanceof ProtocolError && e.code === 'relay_limit' && /limit of 2\.0 MiB per transfer/.test(e.message));
    assert.notEqual(await exited(proc), 0);
  } finally {
    limited.proc.kill();
  }
});

// A sink that hashes the bytes itself (the page does so on its own thread while a worker
// decrypts): receive() asks it for each file's digest before end(), and a wrong one fails the
// transfer before that file is ended.
function hashingSink(dir, { spoil = false } = {}) {
  const inner = diskSink(dir);
  let h = null;
  return {
    ...inner,
    hashes: true,
    ended: [],
    async begin(entry) {
      h = sodium.crypto_generichash_init(null, 32);
      await inner.begin(entry);
    },
    async write(bytes) {
      sodium.crypto_generichash_update(h, bytes);
      await inner.write(bytes);
    },
    async digest() {
      const d = sodium.crypto_generichash_final(h, 32);
      if (spoil) d[0] ^= 1;
      return d;
    },
    async end(entry) {
      this.ended.push(entry.path);
      await inner.end(entry);
    },
  };
}

test('a sink that hashes for itself gets every file verified against its digest', async () => {
  const src = path.join(tmp, 'self-hashed');
  fs.mkdirSync(path.join(src, 'in'), { recursive: true });
  const big = crypto.randomBytes(3 * 1024 * 1024 + 5);
  fs.writeFileSync(path.join(src, 'in', 'big.bin'), big);
  fs.writeFileSync(path.join(src, 'zero'), '');
  const { proc, code } = await startSend(serverUrl, [src]);
  const out = path.join(tmp, 'self-hashed-out');
  const sink = hashingSink(out);
  await receive({ sodium, WebSocket, fetch, server: serverUrl, code: code.code, sink, decide: async () => true });
  assert.equal(await exited(proc), 0);
  assert.deepEqual(fs.readFileSync(path.join(out, 'self-hashed', 'in', 'big.bin')), big);
  assert.deepEqual(sink.ended.sort(), ['self-hashed/in/big.bin', 'self-hashed/zero']);

  const again = await startSend(serverUrl, [path.join(src, 'in', 'big.bin')]);
  const spoiled = hashingSink(path.join(tmp, 'spoiled-out'), { spoil: true });
  await assert.rejects(
    receive({ sodium, WebSocket, fetch, server: serverUrl, code: again.code.code, sink: spoiled, decide: async () => true }),
    (e) => e instanceof ProtocolError && e.code === 'integrity');
  assert.deepEqual(spoiled.ended, []);
  await exited(again.proc);
});
