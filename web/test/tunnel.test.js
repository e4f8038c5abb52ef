// The page's WebSockets inside HTTPS requests (tunnel_socket.js), against the real CLI sender and
// server, with every WebSocket refused the way a proxy that removes the upgrade refuses it: the
// JavaScript receiver and sender reach the peer through the tunnel alone, intact.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { spawn } from 'node:child_process';

import { FERRY, exited, startFixture, startSend } from './helpers.js';
import { receive } from '../src/receive.js';
import { send } from '../src/send.js';
import { Socket } from '../src/session.js';
import { tunnelWebSocket } from '../src/tunnel_socket.js';

let sodium;
let serverUrl;
let tmp;
let stop;

// What the page sees behind squid intercepting TLS with its defaults: no WebSocket opens.
class RefusedWebSocket {
  constructor() {
    setTimeout(() => this.onerror && this.onerror({}), 5);
  }
  close() {}
}

const requests = [];
before(async () => {
  ({ sodium, url: serverUrl, tmp, stop } = await startFixture('ferry-web-tunnel-'));
  Socket.overHttps = tunnelWebSocket((url, init) => {
    requests.push(init.method + ' ' + new URL(url).pathname.replace(/[0-9a-f]{32}/, 'T'));
    return fetch(url, init);
  });
});
after(() => {
  Socket.overHttps = null;
  stop();
});

test('the JavaScript receiver gets a file over HTTPS requests when WebSockets are refused', async () => {
  const src = path.join(tmp, 'tunnel.bin');
  const data = crypto.randomBytes(3 * 1024 * 1024 + 77);
  fs.writeFileSync(src, data);
  const { proc, code } = await startSend(serverUrl, [src]);
  const chunks = [];
  const events = [];
  await receive({
    sodium, WebSocket: RefusedWebSocket, server: serverUrl, code: code.code,
    sink: {
      async begin() {},
      async write(b) { chunks.push(Buffer.from(b)); },
      async end() {},
      abandon() {},
    },
    decide: async () => true,
    onEvent: (e) => events.push(e),
  });
  assert.equal(await exited(proc), 0);
  assert.deepEqual(Buffer.concat(chunks), data);
  const connected = events.find((e) => e.event === 'connected');
  assert.equal(connected.carrier, 'HTTPS requests');
  assert.ok(requests.includes('POST /v1/tunnel'), requests.slice(0, 5).join(', '));
  assert.ok(requests.some((r) => r.startsWith('GET /v1/tunnel/T/down/')));
});

test('the JavaScript sender reaches the CLI over HTTPS requests too', async () => {
  const data = crypto.randomBytes(1024 * 1024 + 5);
  const out = path.join(tmp, 'out-send');
  fs.mkdirSync(out);
  let receiver = null;
  const events = [];
  await send({
    sodium, WebSocket: RefusedWebSocket, server: serverUrl,
    items: [{ path: 'up.bin', size: data.length, slice: (a, b) => new Blob([data.subarray(a, b)]) }],
    onCode: ({ code }) => {
      receiver = spawn(FERRY, ['receive', '--json', '--yes', '--server', serverUrl, '--output', out, code],
        { stdio: ['ignore', 'pipe', 'pipe'] });
    },
    onEvent: (e) => events.push(e),
  });
  assert.equal(await exited(receiver), 0);
  assert.deepEqual(fs.readFileSync(path.join(out, 'up.bin')), data);
  assert.equal(events.find((e) => e.event === 'connected').carrier, 'HTTPS requests');
});
