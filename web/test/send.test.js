// The JavaScript sender core against the real CLI receiver and server (Node, `ws` WebSocket):
// by typed code and by link, a folder, a wrong code; and the word list matches the C++ one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';

import { FERRY, exited, startFixture } from './helpers.js';
import { send } from '../src/send.js';
import { ProtocolError } from '../src/protocol.js';
import { WORDS } from '../src/wordlist.js';

let sodium;
let serverUrl;
let tmp;
let stop;

before(async () => ({ sodium, url: serverUrl, tmp, stop } = await startFixture('ferry-web-send-')));
after(() => stop());

// A file the way the page sees one (a Blob), from bytes in memory.
function blobItem(pathName, bytes) {
  return { path: pathName, size: bytes.length, slice: (a, b) => new Blob([bytes.subarray(a, b)]) };
}

// Sends items from JS and receives with the CLI, typing what pick({ code, link }) returns.
async function sendToCli(items, pick, out) {
  fs.mkdirSync(out, { recursive: true });
  let receiver = null;
  const sending = send({
    sodium, WebSocket, server: serverUrl, items,
    onCode: (c) => {
      receiver = spawn(FERRY, ['receive', '--json', '--yes', '--server', serverUrl, '--output', out, pick(c)], { stdio: ['ignore', 'pipe', 'pipe'] });
    },
  });
  const result = await sending.then((r) => ({ ok: r }), (e) => ({ error: e }));
  return { result, rc: await exited(receiver) };
}

test('the word list is the C++ one', () => {
  const cpp = fs.readFileSync(path.resolve('..', 'src', 'proto', 'wordlist.cpp'), 'utf8');
  assert.deepEqual(WORDS, [...cpp.matchAll(/"([a-z]+)"/g)].map((m) => m[1]));
});

test('a file by typed code, and a folder by link, arrive intact at the CLI', async () => {
  const data = crypto.randomBytes(3 * 1024 * 1024 + 5);
  const out1 = path.join(tmp, 'out1');
  const one = await sendToCli([blobItem('photo.jpg', data)], (c) => c.code, out1);
  assert.equal(one.result.error, undefined);
  assert.equal(one.rc, 0);
  assert.ok(fs.readFileSync(path.join(out1, 'photo.jpg')).equals(data));

  const out2 = path.join(tmp, 'out2');
  const items = [
    { path: 'trip', dir: true },
    { path: 'trip/empty', dir: true },
    blobItem('trip/a.bin', crypto.randomBytes(700000)),
    blobItem('trip/zero.txt', new Uint8Array(0)),
  ];
  const two = await sendToCli(items, (c) => c.link, out2);
  assert.equal(two.result.error, undefined);
  assert.equal(two.rc, 0);
  assert.ok(fs.readFileSync(path.join(out2, 'trip', 'a.bin')).equals(Buffer.from(await items[2].slice(0, 700000).arrayBuffer())));
  assert.equal(fs.readFileSync(path.join(out2, 'trip', 'zero.txt')).length, 0);
  assert.ok(fs.statSync(path.join(out2, 'trip', 'empty')).isDirectory());
});

test('a wrong code fails on both sides', async () => {
  const out = path.join(tmp, 'out3');
  const r = await sendToCli([blobItem('x.bin', crypto.randomBytes(10))],
    (c) => c.code.split('-')[0] + '-' + (c.code.endsWith('-acorn') ? 'zebra-zebra' : 'acorn-acorn'), out);
  assert.ok(r.result.error instanceof ProtocolError);
  assert.equal(r.result.error.code, 'wrong_code');
  assert.equal(r.rc, 3);
  assert.deepEqual(fs.readdirSync(out), []);
});
